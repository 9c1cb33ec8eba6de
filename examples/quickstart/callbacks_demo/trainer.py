"""A WeightedLossTrainer whose additional_outputs hold each field's largest absolute error,
so that the `track_outputs` callback has something to log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from noether.training.trainers import TrainerResult, WeightedLossTrainer
from noether.training.trainers.weighted_loss import target_key


class ErrorReportingTrainer(WeightedLossTrainer):
    """Adds `<field>_max_abs_error` (a 0-d tensor, no host sync) to every step's outputs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_errors: dict[str, Tensor] = {}

    def field_losses(self, forward_output: Any, targets: Mapping[str, Tensor]) -> dict[str, Tensor]:
        losses = super().field_losses(forward_output, targets)
        self._max_errors = {
            f"{field}_max_abs_error": (forward_output[field] - targets[target_key(field)])
            .detach()
            .abs()
            .max()
            for field in self.field_weights
        }
        return losses

    def train_step(self, batch: dict[str, Tensor], model: torch.nn.Module) -> TrainerResult:
        result = super().train_step(batch, model)
        result.additional_outputs.update(self._max_errors)
        return result
