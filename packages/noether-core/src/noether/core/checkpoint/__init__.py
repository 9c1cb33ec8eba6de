"""Checkpoints: atomic writing, reading, and initializers (resume, load weights)."""

from noether.core.checkpoint.initializers import (
    CheckpointInitializer,
    InitializerBase,
    InitializerError,
    ResumeInitializer,
)
from noether.core.checkpoint.writer import CheckpointWriter, atomic_save, unwrap_model

__all__ = [
    "CheckpointInitializer",
    "CheckpointWriter",
    "InitializerBase",
    "InitializerError",
    "ResumeInitializer",
    "atomic_save",
    "unwrap_model",
]
