"""skip_nan_loss: non-finite losses are skipped, at most skip_nan_loss_max_count in a row."""

from __future__ import annotations

import logging

import pytest
import torch

from noether.core.callbacks.base import PeriodicCallback
from noether.core.testing import MseTrainer, make_config, make_model, make_trainer
from noether.core.trainer.update import NonFiniteLossError


def _nan_trainer(bad_calls, **config):
    """A trainer whose loss is NaN / inf on the given (0-based) train_step calls."""
    calls = {"n": 0}

    class FlakyTrainer(MseTrainer):
        def loss_compute(self, forward_output, targets):
            loss = super().loss_compute(forward_output, targets)
            index = calls["n"]
            calls["n"] += 1
            if index in bad_calls:
                return loss * float("nan") if index % 2 else loss * float("inf")
            return loss

    trainer = make_trainer(make_config(**config), trainer_cls=FlakyTrainer)
    steps = {"n": 0}
    return trainer, steps


def _count_steps(trainer, model, steps):
    """Counts the optimizer steps that took effect: updates after which the weights differ.

    skip_nan_loss decides on the device, so the optimizer is called for every update and
    undone for fully skipped ones; what the tests assert is that those change nothing."""
    original = trainer.update
    before = {}

    def counting(batch, dist_model, model_, steps_total, index, retain_graph=False):
        if index == 0:
            before["w"] = [p.detach().clone() for p in model.parameters()]
        result = original(batch, dist_model, model_, steps_total, index, retain_graph)
        if index == steps_total - 1:
            after = list(model.parameters())
            if any(not torch.equal(a, b) for a, b in zip(before["w"], after, strict=True)):
                steps["n"] += 1
        return result

    trainer.update = counting


def test_non_finite_updates_are_skipped_and_training_continues():
    trainer, steps = _nan_trainer(bad_calls={1, 2}, max_updates=6, skip_nan_loss=True)
    model = make_model()
    _count_steps(trainer, model, steps)
    trainer.train(model)
    assert trainer.update_counter.update == 6
    assert steps["n"] == 4
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert trainer.skip_nan_loss_counter == 0


def test_partly_skipped_accumulation_still_steps_but_fully_skipped_does_not():
    # 2 micro-batches per update: update 0 -> calls 0, 1 (1 bad); update 1 -> calls 2, 3 (both)
    trainer, steps = _nan_trainer(
        bad_calls={1, 2, 3}, max_updates=3, max_batch_size=4, skip_nan_loss=True
    )
    model = make_model()
    _count_steps(trainer, model, steps)
    trainer.train(model)
    assert steps["n"] == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_too_many_non_finite_losses_in_a_row_stop_with_a_clear_error():
    trainer, _ = _nan_trainer(
        bad_calls={2, 3, 4}, max_updates=8, skip_nan_loss=True, skip_nan_loss_max_count=2
    )
    with pytest.raises(
        NonFiniteLossError,
        match="3 times in a row, more than skip_nan_loss_max_count=2 in update 5",
    ):
        trainer.train(make_model())
    assert trainer.update_counter.update == 4


@pytest.mark.parametrize("max_batch_size", [None, 4])
def test_a_run_that_skipped_every_micro_batch_fails_when_it_ends(max_batch_size):
    """Fewer skips than the limit, but nothing trained: a smoke test would pass on a run
    whose weights never changed."""
    micro_batches = 3 * (2 if max_batch_size else 1)
    trainer, _ = _nan_trainer(
        bad_calls=set(range(micro_batches)),
        max_updates=3,
        max_batch_size=max_batch_size,
        skip_nan_loss=True,
    )
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(
        NonFiniteLossError,
        match=f"NaN or infinite in each of the {micro_batches} micro-batches this run trained",
    ):
        trainer.train(model)
    assert trainer.update_counter.update == 3
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_run_whose_last_micro_batch_is_finite_ends_normally():
    trainer, _ = _nan_trainer(bad_calls={0, 1}, max_updates=3, skip_nan_loss=True)
    trainer.train(make_model())
    assert trainer.update_counter.update == 3


def test_up_to_the_limit_in_a_row_is_fine(caplog):
    trainer, _ = _nan_trainer(
        bad_calls={2, 3},
        max_updates=6,
        track_every_n_updates=6,
        skip_nan_loss=True,
        skip_nan_loss_max_count=2,
    )
    with caplog.at_level(logging.WARNING):
        trainer.train(make_model())
    assert trainer.update_counter.update == 6
    assert "skipped 2 micro-batches between updates 1 and 6 (0 in a row now" in caplog.text


def test_with_stop_on_nan_loss_off_the_loss_goes_through():
    trainer, _ = _nan_trainer(bad_calls={1}, max_updates=3, stop_on_nan_loss=False)
    model = make_model()
    trainer.train(model)
    assert not all(torch.isfinite(p).all() for p in model.parameters())


def test_by_default_a_non_finite_loss_stops_the_run_at_the_next_read():
    trainer, _ = _nan_trainer(bad_calls={1}, max_updates=30, track_every_n_updates=5)
    with pytest.raises(NonFiniteLossError, match="between updates 1 and 5"):
        trainer.train(make_model())
    assert trainer.update_counter.update == 5


def test_a_read_after_every_update_names_the_one_update():
    trainer, _ = _nan_trainer(bad_calls={2}, max_updates=30, track_every_n_updates=1)
    with pytest.raises(NonFiniteLossError, match=r"infinite in update 3 \("):
        trainer.train(make_model())


def test_skips_read_after_every_update_are_reported_for_the_one_update(caplog):
    trainer, _ = _nan_trainer(
        bad_calls={2}, max_updates=4, track_every_n_updates=1, skip_nan_loss=True
    )
    with caplog.at_level(logging.WARNING):
        trainer.train(make_model())
    assert "skipped 1 micro-batch in update 3 (1 in a row now" in caplog.text


@pytest.mark.parametrize("bad", [3, 70, 129])
def test_a_non_finite_loss_is_found_among_more_losses_than_are_summed_at_once(bad):
    """Between two reads the losses are summed on the device 64 at a time; a NaN in any
    group (or among the not yet summed) still stops the run at the read."""
    trainer, _ = _nan_trainer(bad_calls={bad}, max_updates=200, track_every_n_updates=150)
    with pytest.raises(NonFiniteLossError, match="between updates 1 and 150"):
        trainer.train(make_model())


def test_finite_losses_over_many_updates_between_reads_train_to_the_end():
    trainer, _ = _nan_trainer(bad_calls=set(), max_updates=140, track_every_n_updates=130)
    trainer.train(make_model())
    assert trainer.update_counter.update == 140


def test_a_fully_skipped_update_leaves_weights_and_momentum_unchanged():
    # update 2 (call 1) is non-finite: its gradients are masked and its step undone
    trainer, _ = _nan_trainer(bad_calls={1}, max_updates=3, skip_nan_loss=True)
    model = make_model(momentum=0.9)
    seen = []
    original = trainer.update

    def recording(batch, dist_model, model_, steps_total, index, retain_graph=False):
        result = original(batch, dist_model, model_, steps_total, index, retain_graph)
        state = [s["momentum_buffer"].clone() for s in model.optimizer.state.values()]
        seen.append(([p.detach().clone() for p in model.parameters()], state))
        return result

    trainer.update = recording
    trainer.train(model)
    (w1, m1), (w2, m2), (w3, _) = seen
    assert all(torch.equal(a, b) for a, b in zip(w1, w2, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(m1, m2, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(w2, w3, strict=True))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_the_skip_count_is_read_at_the_track_interval_not_per_micro_batch(caplog):
    # calls 2..4 are non-finite (3 in a row, limit 2); tracked every 4 updates: the run
    # stops at the read after update 4, before it counts, with the longest run named
    trainer, _ = _nan_trainer(
        bad_calls={1, 2, 3},
        max_updates=8,
        skip_nan_loss=True,
        skip_nan_loss_max_count=2,
        track_every_n_updates=4,
    )
    with pytest.raises(
        NonFiniteLossError,
        match="3 times in a row, more than skip_nan_loss_max_count=2 between updates 1 and 4",
    ):
        trainer.train(make_model())
    assert trainer.update_counter.update == 3


def test_a_run_that_starts_later_names_the_updates_from_its_own_start():
    """A run that starts at update 8 (start_at_epoch here, --resume alike) reads first after
    update 12: a NaN in update 10 is reported between 9 and 12, not from update 1."""
    trainer, _ = _nan_trainer(
        bad_calls={1}, max_epochs=3, start_at_epoch=1, track_every_n_updates=4
    )
    with pytest.raises(NonFiniteLossError, match="between updates 9 and 12 "):
        trainer.train(make_model())


def test_skips_of_a_run_that_starts_later_are_reported_from_its_own_start(caplog):
    trainer, _ = _nan_trainer(
        bad_calls={1},
        max_epochs=2,
        start_at_epoch=1,
        track_every_n_updates=4,
        skip_nan_loss=True,
    )
    with caplog.at_level(logging.WARNING):
        trainer.train(make_model())
    assert "skipped 1 micro-batch between updates 9 and 12 (0 in a row now" in caplog.text


def test_too_many_skips_in_a_row_name_the_updates_and_the_setting_to_raise():
    trainer, _ = _nan_trainer(
        bad_calls={2, 3, 4},
        max_updates=8,
        track_every_n_updates=4,
        skip_nan_loss=True,
        skip_nan_loss_max_count=2,
    )
    with pytest.raises(NonFiniteLossError) as error:
        trainer.train(make_model())
    message = str(error.value)
    assert "more than skip_nan_loss_max_count=2 between updates 5 and 8" in message
    assert "raise trainer.skip_nan_loss_max_count" in message


class _SaveEvery2(PeriodicCallback):
    def periodic_callback(self):
        self.checkpoint_writer.save(self.model, self.trainer, tag=self.update_counter.tag)


class _Saving(MseTrainer):
    def get_trainer_callbacks(self, callback_default_args):
        return [_SaveEvery2(**callback_default_args, every_n_updates=2)]


def test_a_frozen_parameter_that_holds_minus_infinity_by_design_is_checkpointed(path_provider):
    """Before a checkpoint the trainable weights are checked: a frozen -inf (a mask) is fine."""
    model = make_model()
    model.mask = torch.nn.Parameter(torch.full((3,), float("-inf")), requires_grad=False)
    trainer = make_trainer(
        make_config(max_updates=4), path_provider=path_provider, trainer_cls=_Saving
    )
    trainer.train(model)
    assert trainer.update_counter.update == 4
    assert (path_provider.run_dir / "checkpoints" / "E0_U4_S32").is_dir()
