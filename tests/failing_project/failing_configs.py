"""Torch-free schemas of a project whose code fails while training or while being built."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from noether.config import BaseTrainerConfig, CallbackConfig, DatasetConfig, ModelConfig


class SmallDatasetConfig(DatasetConfig):
    """32 samples of 4 features; `broken` makes its constructor raise, `bad_item` a read."""

    kind: str = "failing_small_dataset"
    target: ClassVar[str] = "failing_runtime:SmallDataset"

    broken: bool = False
    bad_item: int | None = None
    """An item whose read fails (a key the sample does not have)."""


class FailingModelConfig(ModelConfig):
    """A linear model whose forward receives a malformed input at its `fail_at` call."""

    kind: str = "failing_model"
    target: ClassVar[str] = "failing_runtime:FailingModel"

    fail_at: int = Field(default=0, ge=0)
    """The training forward call (1-based) that fails; 0: none."""
    fail_on_rank: int | None = None
    """Only this rank fails (None: every rank)."""


class MseTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Mean squared error between the model output and `y`."""

    kind: str = "failing_mse_trainer"
    target: ClassVar[str] = "failing_runtime:MseTrainer"
