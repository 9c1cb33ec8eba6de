"""Torch-free schemas of the resume tests' project (a regression with random draws)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from noether.config import BaseTrainerConfig, CallbackConfig, DatasetConfig, ModelConfig
from noether.config.schemas.tracker import JsonlTrackerConfig, MlflowTrackerConfig


class NoisyRegressionDatasetConfig(DatasetConfig):
    """y = x . w + 0.5 on fixed inputs; each item drawn with fresh noise when `noise` > 0."""

    kind: str = "resume_noisy_regression"
    target: ClassVar[str] = "resume_runtime:NoisyRegressionDataset"

    size: int = Field(default=96, ge=1)
    """Number of samples."""
    noise: float = Field(default=0.0, ge=0.0)
    """Scale of the noise added to x per item, from torch's, NumPy's and Python's RNGs."""
    poison_index: int | None = None
    """An item whose input is NaN (a corrupt sample)."""


class SlowBuildDatasetConfig(NoisyRegressionDatasetConfig):
    """`NoisyRegressionDatasetConfig` whose constructor takes a while, as loading a large
    dataset does when a run starts."""

    kind: str = "resume_slow_build"
    target: ClassVar[str] = "resume_runtime:SlowBuildDataset"

    build_seconds: float = Field(default=2.0, ge=0.0)
    """How long the constructor takes after writing `build_marker`."""
    build_marker: str = "building"
    """A file written (in the working directory) when the slow part of the build starts."""


class SignalInFinalizerDatasetConfig(NoisyRegressionDatasetConfig):
    """`NoisyRegressionDatasetConfig` whose constructor gets SIGTERM while a finalizer runs
    (`__del__`, as a library's garbage-collection callback does): Python prints the
    handler's exception there and carries on."""

    kind: str = "resume_signal_in_finalizer"
    target: ClassVar[str] = "resume_runtime:SignalInFinalizerDataset"


class SignalWhileStartingMlflowTrackerConfig(MlflowTrackerConfig):
    """`mlflow` that gets SIGTERM once it has started its MLflow run, before it returns."""

    kind: str = "resume_signal_while_starting_mlflow"
    target: ClassVar[str] = "resume_runtime:SignalWhileStartingMlflowTracker"


class MlpModelConfig(ModelConfig):
    """Linear - tanh - dropout - linear."""

    kind: str = "resume_mlp"
    target: ClassVar[str] = "resume_runtime:Mlp"

    hidden: int = Field(default=16, ge=1)
    """Width of the hidden layer."""
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Dropout after the hidden layer (draws from torch's RNG every step)."""


class TwoLayerModelConfig(ModelConfig):
    """Linear - tanh - linear with named layers, registered in either order."""

    kind: str = "resume_two_layer"
    target: ClassVar[str] = "resume_runtime:TwoLayer"

    head_first: bool = False
    """Registers the output layer before the hidden one: the same names and weights, another
    order of the parameters (a user reordering the model's modules between runs)."""


class MseTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Mean squared error between the output and `y`."""

    kind: str = "resume_mse_trainer"
    target: ClassVar[str] = "resume_runtime:MseTrainer"


class HangingMseTrainerConfig(MseTrainerConfig):
    """`MseTrainerConfig` whose train step hangs at one step, as a stuck run does."""

    kind: str = "resume_hanging_mse_trainer"
    target: ClassVar[str] = "resume_runtime:HangingMseTrainer"

    hang_at_step: int = Field(default=20, ge=1)
    """The `loss_compute` call (counted from 1) that never returns."""
    hang_marker: str = "hanging"
    """A file written (in the working directory) when the hang starts."""


class NanAtUpdatesMseTrainerConfig(MseTrainerConfig):
    """`MseTrainerConfig` whose loss is NaN in chosen updates, as a diverging run's is."""

    kind: str = "resume_nan_at_updates_mse_trainer"
    target: ClassVar[str] = "resume_runtime:NanAtUpdatesMseTrainer"

    nan_updates: list[int] = []
    """The updates (counted from 1) whose every micro-batch has a NaN loss."""
    nan_gradient_updates: list[int] = []
    """The updates whose loss is finite but whose gradient is NaN (the square root of 0)."""


class SlowCloseJsonlTrackerConfig(JsonlTrackerConfig):
    """`jsonl` whose close takes a while, as a tracker uploading its last rows does."""

    kind: str = "resume_slow_close_jsonl"
    target: ClassVar[str] = "resume_runtime:SlowCloseJsonlTracker"

    close_seconds: float = Field(default=0.5, ge=0.0)
    """How long `close` takes after the rows are written."""
    close_marker: str = "closing"
    """A file written (in the working directory) when the slow part of `close` starts."""


class SlowExitJsonlTrackerConfig(JsonlTrackerConfig):
    """`jsonl` that leaves an exit hook taking a while, as a library's atexit cleanup does."""

    kind: str = "resume_slow_exit_jsonl"
    target: ClassVar[str] = "resume_runtime:SlowExitJsonlTracker"

    exit_seconds: float = Field(default=1.0, ge=0.0)
    """How long the exit hook takes after writing `exit_marker`."""
    exit_marker: str = "exiting"
    """A file written (in the working directory) when the exit hook starts."""
