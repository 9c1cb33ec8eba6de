"""The project's trainer: a BaseTrainer subclass that implements only `loss_compute`."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from acme_surrogates.configs import AcmeTrainerConfig
from noether.training.trainers import BaseTrainer
from noether.training.trainers.losses import resolve_loss
from noether.training.trainers.types import LossResult


class AcmeTrainer(BaseTrainer):
    """Regresses the batch's `signal` with the configured loss (a name from noether.losses)."""

    config: AcmeTrainerConfig

    def loss_compute(self, forward_output: Any, targets: dict[str, Tensor]) -> LossResult:
        loss = resolve_loss(self.config.loss_fn)
        return {"signal": loss(forward_output, targets["signal"])}
