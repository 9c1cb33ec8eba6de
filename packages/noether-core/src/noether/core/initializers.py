"""The seed's `noether.core.initializers` path: initializers (in `noether.core.checkpoint`) and
their schemas (in noether-config)."""

from noether.config.schemas.initializer import (
    CheckpointInitializerConfig,
    InitializerConfig,
    ResumeInitializerConfig,
)
from noether.core.checkpoint.initializers import (
    InitializerBase,
    InitializerError,
    ResumeInitializer,
)
from noether.core.checkpoint.weights_initializer import CheckpointInitializer

__all__ = [
    "CheckpointInitializer",
    "CheckpointInitializerConfig",
    "InitializerBase",
    "InitializerConfig",
    "InitializerError",
    "ResumeInitializer",
    "ResumeInitializerConfig",
]
