"""Which parts of BaseTrainer subclasses may replace."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

from noether.core.testing import MseTrainer, make_config, make_model, make_trainer
from noether.core.testing.models import LinearModel, LinearModelConfig
from noether.core.trainer.base import BaseTrainer
from noether.core.trainer.types import TrainerResult


def test_overriding_train_or_wrap_model_is_a_type_error():
    with pytest.raises(TypeError, match=r"overrides BaseTrainer.train, which is fixed"):

        class BadTrain(MseTrainer):
            def train(self, model):
                pass

    with pytest.raises(TypeError, match=r"overrides BaseTrainer.wrap_model, which is fixed"):

        class BadWrap(MseTrainer):
            def wrap_model(self, model):
                return model


def test_loss_compute_is_required():
    class NoLoss(BaseTrainer):
        pass

    with pytest.raises(TypeError, match="loss_compute"):
        make_trainer(make_config(), trainer_cls=NoLoss)


def test_the_constructor_keeps_its_signature():
    """What the preflight binds a trainer kind's arguments to (a `__new__(*args, **kwargs)`
    hid it)."""

    class OwnLoss(BaseTrainer):  # no __init__ of its own: BaseTrainer's is its constructor
        def loss_compute(self, forward_output, targets):
            return forward_output.sum()

    parameters = list(inspect.signature(OwnLoss).parameters)
    assert parameters[:5] == ["config", "data_container", "device", "tracker", "path_provider"]


def test_a_trainer_with_its_own_train_step_needs_no_loss_compute():
    class OwnStep(BaseTrainer):
        def train_step(self, batch, model):
            return TrainerResult(
                total_loss=torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])
            )

    model = make_model()
    trainer = make_trainer(make_config(max_updates=20), trainer_cls=OwnStep)
    before = model.linear.weight.detach().clone()
    trainer.train(model)
    assert not torch.equal(model.linear.weight, before)
    with pytest.raises(NotImplementedError, match="OwnStep has no loss_compute"):
        trainer.loss_compute(None, {})


def test_an_overridden_train_step_is_used_by_the_loop():
    calls = []

    class CustomStep(MseTrainer):
        def train_step(self, batch, model):
            calls.append(sorted(batch))
            return super().train_step(batch, model)

    trainer = make_trainer(make_config(max_updates=3), trainer_cls=CustomStep)
    trainer.train(make_model())
    # __meta keys were dropped before the step saw the batch
    assert calls == [["x", "y"]] * 3


def test_a_train_step_set_on_the_instance_is_used_by_the_loop():
    trainer = make_trainer(make_config(max_updates=2))
    own_step = trainer.train_step
    calls = []

    def train_step(batch, model):
        calls.append(sorted(batch))
        return own_step(batch, model)

    trainer.train_step = train_step
    trainer.train(make_model())
    assert calls == [["x", "y"]] * 2


def test_a_subclass_forwarding_train_step_gives_the_same_weights():
    """A subclass that only forwards to BaseTrainer.train_step trains to the same weights."""

    class Forwarding(MseTrainer):
        def train_step(self, batch, model):
            return super().train_step(batch, model)

    weights = []
    for trainer_cls in (MseTrainer, Forwarding):
        model = make_model()
        make_trainer(make_config(max_updates=4), trainer_cls=trainer_cls).train(model)
        weights.append([p.detach().clone() for p in model.parameters()])
    initial = [p.detach().clone() for p in make_model().parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(initial, weights[0], strict=True))
    for own, forwarded in zip(*weights, strict=True):
        assert torch.equal(own, forwarded)


def test_seed_attributes_exist():
    trainer = make_trainer(make_config(max_epochs=3))
    for name in [
        "logger",
        "config",
        "data_container",
        "path_provider",
        "main_sampler_kwargs",
        "device",
        "end_checkpoint",
        "precision",
        "updates_per_epoch",
        "skip_nan_loss_counter",
        "initializer",
        "tracker",
        "metric_property_provider",
        "update_counter",
        "log_writer",
        "checkpoint_writer",
        "callbacks",
        "forward_properties",
        "target_properties",
        "batch_keys",
    ]:
        assert hasattr(trainer, name), name
    assert trainer.end_checkpoint.epoch == 3
    assert trainer.updates_per_epoch == 8
    assert trainer.total_training_updates == 24
    assert trainer.batch_keys == {"x", "y"}
    assert trainer.precision is torch.float32


class SkipsModelBaseInit(LinearModel):
    def __init__(self, model_config: LinearModelConfig) -> None:
        torch.nn.Module.__init__(self)  # a user's slip: ModelBase.__init__ never runs
        self.linear = torch.nn.Linear(4, 1)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            torch.nn.Sequential(torch.nn.Linear(4, 1)),
            "the model is a torch.nn.modules.container.Sequential, not a "
            "noether.core.models.ModelBase: subclass ModelBase",
        ),
        (
            SkipsModelBaseInit(LinearModelConfig()),
            "SkipsModelBaseInit.__init__ did not call super().__init__(model_config)",
        ),
    ],
)
def test_a_model_that_is_no_model_base_is_named_before_anything_runs(
    model: torch.nn.Module, message: str
) -> None:
    """From Python, torch raised `AttributeError: ... has no attribute 'is_initialized'`."""
    trainer = make_trainer(make_config(max_updates=2))
    for run in (trainer.train, trainer.eval):
        with pytest.raises(TypeError, match=re.escape(message)):
            run(model)  # type: ignore[arg-type]
