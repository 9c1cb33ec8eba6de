"""Checkpoints: whole-or-nothing writing, safe reading, and initializers (resume, load weights)."""

from noether.core.checkpoint.folders import (
    CheckpointError,
    CheckpointInfo,
    CheckpointNotFoundError,
    newest_resumable,
)
from noether.core.checkpoint.initializers import (
    InitializerBase,
    InitializerError,
    ResumeInitializer,
)
from noether.core.checkpoint.weights_initializer import CheckpointInitializer
from noether.core.checkpoint.writer import CheckpointWriter, atomic_save, unwrap_model

__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointInitializer",
    "CheckpointNotFoundError",
    "CheckpointWriter",
    "InitializerBase",
    "InitializerError",
    "ResumeInitializer",
    "atomic_save",
    "newest_resumable",
    "unwrap_model",
]
