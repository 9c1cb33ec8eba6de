"""Torch-free schemas of a project whose code fails while training or while being built."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from noether.config import (
    BaseTrainerConfig,
    CallbackConfig,
    DatasetConfig,
    ModelConfig,
    TrackerConfig,
)


class SmallDatasetConfig(DatasetConfig):
    """32 samples of 4 features; `broken` makes its constructor raise, `bad_item` a read."""

    kind: str = "failing_small_dataset"
    target: ClassVar[str] = "failing_runtime:SmallDataset"

    size: int = Field(default=32, ge=0)
    """Number of items."""
    broken: bool = False
    broken_on_rank: int | None = None
    """Only this rank's constructor raises as `broken` does (None: as `broken` says)."""
    invalid: bool = False
    """Its constructor raises a ValueError (the user's own check of its input)."""
    bad_item: int | None = None
    """An item whose read fails (a key the sample does not have)."""
    keyless_item: int | None = None
    """An item returned without its "y" (only stacking the batch notices)."""
    fileless_item: int | None = None
    """An item whose file is missing (the read raises FileNotFoundError)."""
    fileless: bool = False
    """Its constructor opens a file that is missing."""
    killing_item: int | None = None
    """An item whose read kills the data worker reading it (as the out-of-memory killer)."""
    exiting_item: int | None = None
    """An item whose read calls sys.exit(3) (in a data worker or in the main process)."""
    nan_item: int | None = None
    """An item whose target is NaN (a sample the simulation did not converge on)."""


class FailingModelConfig(ModelConfig):
    """A linear model whose forward receives a malformed input at its `fail_at` call."""

    kind: str = "failing_model"
    target: ClassVar[str] = "failing_runtime:FailingModel"

    fail_at: int = Field(default=0, ge=0)
    """The training forward call (1-based) that fails; 0: none."""
    fail_on_rank: int | None = None
    """Only this rank fails (None: every rank)."""
    exit_at: int = Field(default=0, ge=0)
    """The training forward call (1-based) that calls sys.exit(0); 0: none."""
    abort_in_teardown: bool = False
    """The process aborts when the interpreter finalizes, as torch's C++ threads can."""


class MseTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Mean squared error between the model output and `y`."""

    kind: str = "failing_mse_trainer"
    target: ClassVar[str] = "failing_runtime:MseTrainer"


class RaisingCallbackConfig(CallbackConfig):
    """A user's callback whose periodic hook raises."""

    kind: str = "failing_raising_callback"
    target: ClassVar[str] = "failing_runtime:RaisingCallback"

    on_rank: int | None = None
    """Only this rank raises (None: every rank)."""
    broken_state: bool = False
    """Its state_dict raises too (so no error checkpoint can be written)."""


class RaisingTrackerConfig(TrackerConfig):
    """A user's tracker that raises when built (`in_init`) or else when closed."""

    kind: str = "failing_raising_tracker"
    target: ClassVar[str] = "failing_runtime:RaisingTracker"

    in_init: bool = False
