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

    same_on_every_rank = True
    """Found from values the ranks agreed on, so every rank raises it: rank 0 says it."""


class TrainStepError(TypeError, ValueError):
    """What `train_step` or `loss_compute` returned cannot be trained on (not a
    TrainerResult, or a loss that is not a scalar tensor); `noether-train` reports it as a
    message."""


def describe_non_scalar(value: object) -> str:
    """What a loss that is not a scalar tensor is, for TrainStepError messages."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def to_trainer_result(result: LossResult) -> TrainerResult:
    """Sums what `loss_compute` returned into a TrainerResult.

    Raises:
        TrainStepError: the result has none of the accepted forms, holds no loss, or a loss
            that is not a scalar tensor (named by its key).
    """
    additional: dict[str, Any] = {}
    if isinstance(result, tuple):
        if len(result) != 2 or not isinstance(result[1], dict):
            raise TrainStepError(
                "loss_compute returned a tuple; it must be (losses, additional_outputs: dict)"
            )
        result, additional = result
    if isinstance(result, Tensor):
        _check_scalar("the loss", result)
        return TrainerResult(result, {"total": result}, additional)
    if isinstance(result, list):
        losses = {f"loss_{i}": loss for i, loss in enumerate(result)}
    elif isinstance(result, dict):
        losses = result
    else:
        raise TrainStepError(
            f"loss_compute returned {type(result).__name__}; expected a tensor, a dict or a "
            "list of tensors, or (losses, additional_outputs)"
        )
    if not losses:
        raise TrainStepError(
            "loss_compute returned no losses (an empty dict or list): nothing to backpropagate"
        )
    for name, value in losses.items():
        _check_scalar(f"loss {name!r}", value)
    values = iter(losses.values())
    total = next(values)
    for value in values:
        total = total + value
    return TrainerResult(total, losses, additional)


def _check_scalar(what: str, value: Any) -> None:
    """A loss must be a tensor with one element (what backward and the loggers need)."""
    if isinstance(value, Tensor) and (value.dim() == 0 or value.numel() == 1):
        return
    raise TrainStepError(
        f"loss_compute returned {what} as {describe_non_scalar(value)}; each loss must be a "
        "scalar tensor (reduce it, e.g. with .mean())"
    )
