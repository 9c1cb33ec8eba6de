"""noether-config: torch-free experiment schemas, the kind registry and the YAML loader.

Names are imported on first use (PEP 562), so `noether-config` commands and the registry load
only the modules they need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noether.config.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from noether.config.discriminated import Discriminated
    from noether.config.errors import ConfigError, ConfigIssue
    from noether.config.loader import load_config
    from noether.config.registry import KindError, RegistryBase
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

_HOMES = {
    "ConfigError": "noether.config.errors",
    "ConfigIssue": "noether.config.errors",
    "load_config": "noether.config.loader",
    "Discriminated": "noether.config.discriminated",
    "KindError": "noether.config.registry",
    "RegistryBase": "noether.config.registry",
    "BaseTrainerConfig": "noether.config.schemas",
    "CallbackConfig": "noether.config.schemas",
    "DatasetConfig": "noether.config.schemas",
    "ExperimentConfig": "noether.config.schemas",
    "InitializerConfig": "noether.config.schemas",
    "ModelConfig": "noether.config.schemas",
    "OptimizerConfig": "noether.config.schemas",
    "ScheduleConfig": "noether.config.schemas",
    "TrackerConfig": "noether.config.schemas",
    "WeightedLossTrainerConfig": "noether.config.schemas",
}

__all__ = [
    "BaseTrainerConfig",
    "CallbackConfig",
    "ConfigError",
    "ConfigIssue",
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
    "load_config",
]


if not TYPE_CHECKING:
    # Hidden from type checkers: they see the imports above, so a name that is not
    # exported is an error for them rather than a silent Any.
    __getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
