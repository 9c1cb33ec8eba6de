"""Torch-free schemas of every registry root and the built-in kinds.

These modules evaluate annotations eagerly (no `from __future__ import annotations`; see
`noether.config.registry`): string annotations cost start-up in every subclass.

Mutable defaults are written as plain values (`= []`, `= {}`): pydantic copies them for every
instance, while `default_factory=list` makes it read the text signature of `list`, whose parse
compiles the regular expressions of `tokenize` (several milliseconds of `noether-config` start-up).
"""

from noether.config.schemas.callback import CallbackConfig
from noether.config.schemas.dataset import DatasetConfig
from noether.config.schemas.experiment import ExperimentConfig
from noether.config.schemas.initializer import (
    CheckpointInitializerConfig,
    InitializerConfig,
    ResumeInitializerConfig,
)
from noether.config.schemas.model import ModelConfig
from noether.config.schemas.optimizer import AdamConfig, AdamWConfig, OptimizerConfig, SGDConfig
from noether.config.schemas.schedule import (
    ConstantScheduleConfig,
    LinearScheduleConfig,
    LinearWarmupCosineDecayScheduleConfig,
    PolynomialScheduleConfig,
    ScheduleConfig,
    StepScheduleConfig,
)
from noether.config.schemas.tracker import (
    JsonlTrackerConfig,
    MlflowTrackerConfig,
    NoopTrackerConfig,
    TensorboardTrackerConfig,
    TrackerConfig,
    WandbTrackerConfig,
)
from noether.config.schemas.trainer import (
    BaseTrainerConfig,
    CompileOptions,
    WeightedLossTrainerConfig,
)

__all__ = [
    "AdamConfig",
    "AdamWConfig",
    "BaseTrainerConfig",
    "CallbackConfig",
    "CheckpointInitializerConfig",
    "CompileOptions",
    "ConstantScheduleConfig",
    "DatasetConfig",
    "ExperimentConfig",
    "InitializerConfig",
    "JsonlTrackerConfig",
    "LinearScheduleConfig",
    "LinearWarmupCosineDecayScheduleConfig",
    "MlflowTrackerConfig",
    "ModelConfig",
    "NoopTrackerConfig",
    "OptimizerConfig",
    "PolynomialScheduleConfig",
    "ResumeInitializerConfig",
    "SGDConfig",
    "ScheduleConfig",
    "StepScheduleConfig",
    "TensorboardTrackerConfig",
    "TrackerConfig",
    "WandbTrackerConfig",
    "WeightedLossTrainerConfig",
]
