"""The seed's `noether.core.schemas` paths: the schemas themselves live in noether-config (torch
free, so that configs validate without torch); these names are the same objects."""

from noether.config.discriminated import Discriminated
from noether.config.registry import RegistryBase
from noether.config.schemas import (
    BaseTrainerConfig,
    CallbackConfig,
    DatasetConfig,
    ExperimentConfig,
    InitializerConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrackerConfig,
    WeightedLossTrainerConfig,
)

__all__ = [
    "BaseTrainerConfig",
    "CallbackConfig",
    "DatasetConfig",
    "Discriminated",
    "ExperimentConfig",
    "InitializerConfig",
    "ModelConfig",
    "OptimizerConfig",
    "RegistryBase",
    "ScheduleConfig",
    "TrackerConfig",
    "WeightedLossTrainerConfig",
]
