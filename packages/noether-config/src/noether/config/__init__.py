"""noether-config: torch-free experiment schemas, the kind registry and the YAML loader."""

from noether.config.registry import Discriminated, KindError, RegistryBase
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
    "KindError",
    "ModelConfig",
    "OptimizerConfig",
    "RegistryBase",
    "ScheduleConfig",
    "TrackerConfig",
    "WeightedLossTrainerConfig",
]
