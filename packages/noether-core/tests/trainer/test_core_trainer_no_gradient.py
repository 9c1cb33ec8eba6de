"""A run whose losses never had a gradient: an error at its end when the model has trainable
parameters (the weights never changed, and the run ended with exit 0 after one warning per
update), one warning for a model with none."""

from __future__ import annotations

import logging

import pytest
import torch

from noether.core.testing import MseTrainer, make_config, make_model, make_trainer
from noether.core.testing.models import LinearModel, LinearModelConfig, sgd
from noether.core.trainer.types import TrainStepError

UPDATES = 6


class DetachedLossTrainer(MseTrainer):
    """A user's mistake: the loss leaves the graph (as under torch.no_grad or via .item())."""

    def loss_compute(
        self, forward_output: torch.Tensor, targets: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        return super().loss_compute(forward_output, targets).detach()


def test_a_run_whose_losses_never_had_a_gradient_fails_naming_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = make_model()
    before = model.linear.weight.detach().clone()
    trainer = make_trainer(make_config(max_updates=UPDATES), trainer_cls=DetachedLossTrainer)
    with caplog.at_level(logging.WARNING), pytest.raises(TrainStepError) as caught:
        trainer.train(model)
    assert sum("no optimizer step" in r.getMessage() for r in caplog.records) == 1
    assert str(caught.value) == (
        f"the loss of none of the {UPDATES} update(s) this run trained had a gradient, while "
        "the model has 5 trainable parameters, so the weights never changed: "
        "DetachedLossTrainer.train_step's total_loss must be computed from the model's "
        "output, not under torch.no_grad(), detached or rebuilt from .item()"
    )
    assert torch.equal(model.linear.weight, before)


def test_a_frozen_model_trains_through_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    model = LinearModel(LinearModelConfig(optimizer=sgd(0.05), is_frozen=True))
    trainer = make_trainer(make_config(max_updates=UPDATES))
    with caplog.at_level(logging.WARNING):
        trainer.train(model)
    warnings = [r for r in caplog.records if "had a gradient" in r.getMessage()]
    assert [r.getMessage() for r in warnings] == [
        "no loss of this update had a gradient: no optimizer step (said once)"
    ]
