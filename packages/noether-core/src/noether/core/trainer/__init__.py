"""The training loop: `BaseTrainer` and its result types."""

from typing import TYPE_CHECKING

from noether.core.trainer.types import (
    EarlyStopIteration,
    LossResult,
    NonFiniteLossError,
    TrainerResult,
    TrainStepError,
)

if TYPE_CHECKING:
    from noether.core.trainer.base import BaseTrainer

__all__ = [
    "BaseTrainer",
    "EarlyStopIteration",
    "LossResult",
    "NonFiniteLossError",
    "TrainStepError",
    "TrainerResult",
]

if not TYPE_CHECKING:
    # Hidden from type checkers, which see the import above: BaseTrainer keeps its class type.
    def __getattr__(name: str) -> object:
        # BaseTrainer pulls in data loading and callbacks; import it only when asked for.
        if name == "BaseTrainer":
            from noether.core.trainer.base import BaseTrainer

            return BaseTrainer
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
