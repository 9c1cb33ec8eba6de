"""Result types and exceptions shared by the loop, trainers and callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from torch import Tensor

_Losses: TypeAlias = Tensor | dict[str, Tensor] | list[Tensor]

LossResult: TypeAlias = _Losses | tuple[_Losses, dict[str, Any]]
"""What `loss_compute` returns: one loss, named losses, a list of losses, or
`(losses, additional_outputs)` where the outputs are handed to the callbacks."""


@dataclass
class TrainerResult:
    """One training step's outcome: what to backpropagate and what to log.

    Only `total_loss` is required (`TrainerResult(loss)`); without `losses_to_log` the loop
    logs `total_loss` as `total`, and callbacks get `{}` for missing `additional_outputs`.
    """

    total_loss: Tensor
    """Sum of all losses, a scalar tensor; the loop backpropagates it."""
    losses_to_log: dict[str, Tensor] | None = None
    """Named (detached or not) losses for the logging callbacks."""
    additional_outputs: dict[str, Any] | None = None
    """Anything else callbacks may want (predictions, targets, ...)."""


class EarlyStopIteration(Exception):
    """Raised by a callback to end training cleanly; after_training callbacks still run."""


class NonFiniteLossError(RuntimeError):
    """The loss was NaN or infinite: too often in a row with skip_nan_loss, or at all with
    stop_on_nan_loss (the default)."""


class TrainStepError(TypeError, ValueError):
    """What `train_step` or `loss_compute` returned cannot be trained on (not a
    TrainerResult, or a loss that is not a scalar tensor); `noether-train` reports it as a
    message."""


def describe_non_scalar(value: object) -> str:
    """What a loss that is not a scalar tensor is, for TrainStepError messages."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"
