"""Result types shared by the loop, trainers and callbacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from torch import Tensor

_Losses: TypeAlias = Tensor | dict[str, Tensor] | list[Tensor]

LossResult: TypeAlias = _Losses | tuple[_Losses, dict[str, Any]]
"""What `loss_compute` returns: one loss, named losses, a list of losses, or
`(losses, additional_outputs)` where the outputs are handed to the callbacks."""


@dataclass
class TrainerResult:
    """One training step's outcome: what to backpropagate and what to log."""

    total_loss: Tensor
    """Sum of all losses; the loop backpropagates it."""
    losses_to_log: dict[str, Tensor] = field(default_factory=dict)
    """Named (detached or not) losses for the logging callbacks."""
    additional_outputs: dict[str, Any] = field(default_factory=dict)
    """Anything else callbacks may want (predictions, targets, ...)."""


class EarlyStopIteration(Exception):
    """Raised by a callback to end training cleanly; after_training callbacks still run."""
