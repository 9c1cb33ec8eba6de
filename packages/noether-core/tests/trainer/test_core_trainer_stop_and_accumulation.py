"""Stop criteria, evaluation-only runs, start_at_epoch and gradient accumulation."""

from __future__ import annotations

import logging

import pytest
import torch

from noether.config.schemas.schedule import LinearScheduleConfig
from noether.core.data.container import ShardedEpochSampler
from noether.core.testing import (
    MseTrainer,
    RecordingCallback,
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
)


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _train(**config):
    model = make_model(lr=0.05, momentum=0.9)
    trainer = make_trainer(make_config(**config))
    trainer.train(model)
    return trainer, model


@pytest.mark.parametrize(
    ("criterion", "updates"),
    [({"max_epochs": 2}, 16), ({"max_updates": 5}, 5), ({"max_samples": 50}, 7)],
)
def test_training_stops_at_the_criterion(criterion, updates):
    trainer, _ = _train(**criterion)
    counter = trainer.update_counter
    assert counter.update == updates
    assert counter.sample == updates * 8
    assert counter.epoch == updates // 8


@pytest.mark.parametrize("criterion", [{"max_epochs": 2}, {"max_updates": 5}, {"max_samples": 50}])
def test_k_micro_batches_equal_one_big_batch(criterion):
    _, whole = _train(**criterion)
    trainer, accumulated = _train(max_batch_size=2, **criterion)
    assert trainer.accumulation_steps == 4
    assert torch.allclose(_weights(whole), _weights(accumulated), atol=1e-6)
    assert not torch.equal(_weights(whole), _weights(make_model()))


def test_disable_gradient_accumulation_uses_the_whole_batch():
    trainer, _ = _train(max_updates=2, max_batch_size=2, disable_gradient_accumulation=True)
    assert trainer.accumulation_steps == 1


def test_weights_match_a_hand_written_loop():
    _, trained = _train(max_epochs=2)
    data = RegressionDataset(64)
    model = make_model(lr=0.05, momentum=0.9)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sampler = ShardedEpochSampler(64, seed=0, rank=0, world_size=1)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        order = list(sampler)
        for start in range(0, 64, 8):
            index = order[start : start + 8]
            loss = torch.nn.functional.mse_loss(model(data.x[index]), data.y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert torch.allclose(_weights(trained), _weights(model), atol=1e-6)


@pytest.mark.parametrize("criterion", ["max_epochs", "max_updates", "max_samples"])
def test_zero_runs_no_update_and_every_callback_once(criterion):
    log: list = []

    class EvalTrainer(MseTrainer):
        def get_trainer_callbacks(self, callback_default_args):
            return [
                RecordingCallback(**callback_default_args, log=log, every_n_epochs=3),
                RecordingCallback(**callback_default_args, log=log, every_n_updates=7),
            ]

    model = make_model()
    before = _weights(model).clone()
    trainer = make_trainer(make_config(**{criterion: 0}), trainer_cls=EvalTrainer)
    trainer.train(model)
    assert trainer.update_counter.update == 0
    assert torch.equal(before, _weights(model))
    assert log == ["before", "before", ("periodic", 0), ("periodic", 0), "after", "after"]


def test_start_at_epoch_skips_epochs_and_moves_the_schedule():
    seen_lrs = []

    class LrTrainer(MseTrainer):
        def train_step(self, batch, model):
            seen_lrs.append(self.model.optimizer.param_groups[0]["lr"])
            return super().train_step(batch, model)

    model = make_model(lr=1.0)
    model.model_config.optimizer.schedule = LinearScheduleConfig(
        kind="linear", start_value=1.0, end_value=0.0
    )
    trainer = make_trainer(make_config(max_epochs=4, start_at_epoch=3), trainer_cls=LrTrainer)
    assert (trainer.update_counter.epoch, trainer.update_counter.update) == (3, 24)
    trainer.train(model)
    assert trainer.update_counter.update == 32
    assert trainer.update_counter.epoch == 4
    assert len(seen_lrs) == 8  # only the last epoch ran
    expected = [model.schedule.get_value(u) for u in range(24, 32)]
    assert seen_lrs == pytest.approx(expected)


def test_a_start_at_or_past_the_stop_criterion_trains_nothing_and_says_so(caplog):
    model = make_model()
    before = model.linear.weight.detach().clone()
    trainer = make_trainer(make_config(max_epochs=2, start_at_epoch=2))
    with caplog.at_level(logging.WARNING):
        trainer.train(model)
    assert torch.equal(model.linear.weight, before)
    assert "nothing to train: the run starts at update 16, at or past its stop criterion" in (
        caplog.text
    )
