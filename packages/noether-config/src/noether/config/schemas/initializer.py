"""Initializers: resume a run exactly, or load weights from a checkpoint file."""

from typing import ClassVar

from pydantic import Field

from noether.config.registry import RegistryBase


class InitializerConfig(RegistryBase):
    """How a model (and trainer) start from earlier work."""

    entry_point_group: ClassVar[str] = "noether.initializers"


class ResumeInitializerConfig(InitializerConfig):
    """Continue a run exactly: weights, optimizer, scaler, counters, callbacks and RNG state."""

    kind: str = "resume"
    target: ClassVar[str] = "noether.core.checkpoint.initializers:ResumeInitializer"

    run: str = Field(min_length=1)
    """Run folder (a path) or run id (a folder under `<output_path>/<name>`, else under another
    experiment of `output_path`: a new experiment continued from another's run)."""
    checkpoint: str | None = None
    """Checkpoint tag to resume from, e.g. `latest` or `E3_U120_S7680`; when absent, the run's
    newest checkpoint with optimizer and trainer state (as `noether-train --resume` takes)."""
    force: bool = False
    """Resume even when the config or the data changed in ways that break an exact resume
    (batch sizes, seed, datasets, model, optimizer kind, precision); each is warned about."""


class CheckpointInitializerConfig(InitializerConfig):
    """Load model weights from a checkpoint file, e.g. to fine-tune; training starts afresh."""

    kind: str = "checkpoint"
    target: ClassVar[str] = "noether.core.checkpoint.weights_initializer:CheckpointInitializer"

    path: str = Field(min_length=1)
    """Path of a weights file written by the checkpoint callback."""
    strict: bool = True
    """Fail when keys differ between the file and the model."""
