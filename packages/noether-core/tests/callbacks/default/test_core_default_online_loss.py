"""Online loss: running means per track interval, console line per log interval, state."""

from __future__ import annotations

import gc
import logging
import math
import weakref
from types import SimpleNamespace

import pytest
import torch

from noether.core.callbacks.default.online_loss import (
    OnlineLossCallback,
    OnlineLossConsoleCallback,
    _stack_losses,
)
from noether.core.testing import (
    CallbackHarness,
    RecordingTracker,
    make_config,
    make_model,
    make_trainer,
)


def _losses(value: float, **named: float) -> dict[str, torch.Tensor]:
    if named:
        return {name: torch.tensor(v) for name, v in named.items()}
    return {"total": torch.tensor(value)}


def test_tracker_gets_mean_of_each_track_window():
    h = CallbackHarness()
    callback = OnlineLossCallback(None, h.context, every_n_updates=2)
    values = [1.0, 3.0, 10.0, 20.0, 5.0, 7.0]
    for value in values:
        h.step(callback, [_losses(value)])
    assert h.tracker.rows_with("loss/online/total") == {2: 2.0, 4: 15.0, 6: 6.0}


def test_named_losses_are_logged_each_and_summed_into_total():
    h = CallbackHarness()
    callback = OnlineLossCallback(None, h.context, every_n_updates=2)
    h.step(callback, [_losses(0, pressure=1.0, velocity=0.5)])
    h.step(callback, [_losses(0, pressure=3.0, velocity=1.5)])
    row = h.tracker.rows[-1]
    assert row["loss/online/pressure"] == pytest.approx(2.0)
    assert row["loss/online/velocity"] == pytest.approx(1.0)
    assert row["loss/online/total"] == pytest.approx(3.0)


def test_every_accumulation_step_counts_in_the_mean():
    h = CallbackHarness()
    callback = OnlineLossCallback(None, h.context, every_n_updates=1)
    h.step(callback, [_losses(1.0), _losses(2.0), _losses(6.0)])
    assert h.tracker.rows_with("loss/online/total") == {1: pytest.approx(3.0)}


def test_with_skip_nan_loss_skipped_non_finite_losses_are_left_out_of_the_mean():
    h = CallbackHarness(trainer=SimpleNamespace(config=make_config(skip_nan_loss=True)))
    callback = OnlineLossCallback(None, h.context, every_n_updates=3)
    for value in (2.0, float("nan"), float("inf")):
        h.step(callback, [_losses(value)])
    h.step(callback, [_losses(float("nan"))])
    h.step(callback, [_losses(float("nan"))])
    h.step(callback, [_losses(float("nan"))])
    logged = h.tracker.rows_with("loss/online/total")
    assert logged[3] == 2.0
    assert math.isnan(logged[6])


def test_without_skip_nan_loss_a_non_finite_step_makes_the_mean_nan():
    h = CallbackHarness(trainer=SimpleNamespace(config=make_config()))
    callback = OnlineLossCallback(None, h.context, every_n_updates=3)
    for value in (2.0, float("nan"), 4.0, 1.0, 2.0, 3.0):
        h.step(callback, [_losses(value)])
    logged = h.tracker.rows_with("loss/online/total")
    assert math.isnan(logged[3])
    assert logged[6] == 2.0


def test_many_steps_are_folded_without_changing_the_mean():
    h = CallbackHarness(max_updates=1000)
    callback = OnlineLossCallback(None, h.context, every_n_updates=150)
    values = [float(i % 17) for i in range(150)]
    for value in values:
        h.step(callback, [_losses(value)])
    assert h.tracker.rows_with("loss/online/total")[150] == pytest.approx(sum(values) / 150)


def test_losses_with_a_graph_are_released_once_logged():
    h = CallbackHarness()
    callback = OnlineLossCallback(None, h.context, every_n_updates=2)
    weight = torch.ones(3, requires_grad=True)
    refs = []
    for scale in (1.0, 2.0):
        loss = (weight * scale).sum()
        loss.backward()
        refs.append(weakref.ref(loss))
        h.step(callback, [{"total": loss}])
        del loss
    gc.collect()
    assert h.log_writer.last_values["loss/online/total"] == pytest.approx(4.5)
    assert [ref() for ref in refs] == [None, None]


def test_device_losses_are_stacked_into_one_detached_vector():
    weight = torch.ones(2, requires_grad=True)
    scalars = [(weight * k).sum() for k in (1.0, 2.0, 3.0)]
    stacked = _stack_losses(scalars)
    assert not stacked.requires_grad
    assert stacked.tolist() == [2.0, 4.0, 6.0]
    per_sample = [torch.tensor([1.0, 3.0]), torch.tensor([5.0])]  # uneven last batch
    assert _stack_losses(per_sample).tolist() == [2.0, 5.0]


def _with_console(h, log: dict[str, int], **track: int):
    online = OnlineLossCallback(None, h.context, **track)
    return online, OnlineLossConsoleCallback(None, h.context, source=online, **log)


def test_console_line_shows_the_mean_since_the_previous_line(caplog):
    h = CallbackHarness()
    online, console = _with_console(h, {"every_n_updates": 4}, every_n_updates=2)
    caplog.set_level(logging.INFO, logger="OnlineLossConsoleCallback")
    for value in (1.0, 2.0, 3.0, 6.0, 10.0, 10.0, 10.0, 30.0):
        h.step([online, console], [_losses(value)])
    lines = [r.getMessage() for r in caplog.records if r.name == "OnlineLossConsoleCallback"]
    assert lines == ["online loss: total 3", "online loss: total 15"]
    assert console.last_logged == {"total": 15.0}
    assert h.tracker.rows_with("loss/online/total") == {2: 1.5, 4: 4.5, 6: 10.0, 8: 20.0}


def test_log_interval_in_epochs_runs_at_epoch_ends(caplog):
    h = CallbackHarness(updates_per_epoch=3)
    online, console = _with_console(h, {"every_n_epochs": 1}, every_n_updates=100)
    caplog.set_level(logging.INFO, logger="OnlineLossConsoleCallback")
    for value in (1.0, 2.0, 3.0, 7.0):
        h.step([online, console], [_losses(value)])
    lines = [r.getMessage() for r in caplog.records if r.name == "OnlineLossConsoleCallback"]
    assert lines == ["online loss: total 2"]
    assert h.tracker.rows_with("loss/online/total") == {}


def test_console_window_survives_a_stop_and_resume(caplog):
    """The console line after a resume averages the steps before and after the stop."""
    values = [1.0, 2.0, 4.0, 8.0]
    first = CallbackHarness()
    online, console = _with_console(first, {"every_n_updates": 4}, every_n_updates=100)
    for value in values[:3]:
        first.step([online, console], [_losses(value)])
    states = (online.state_dict(), console.state_dict())
    second = CallbackHarness()
    second.counter.load_state_dict(first.counter.state_dict())
    online, console = _with_console(second, {"every_n_updates": 4}, every_n_updates=100)
    online.load_state_dict(states[0])
    console.load_state_dict(states[1])
    second.step([online, console], [_losses(values[3])])
    assert console.last_logged == {"total": pytest.approx(sum(values) / 4)}


def test_state_survives_a_stop_and_resume_mid_window():
    values = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]

    h_full = CallbackHarness()
    full = OnlineLossCallback(None, h_full.context, every_n_updates=6)
    for value in values:
        h_full.step(full, [_losses(value)])

    h_first = CallbackHarness()
    first = OnlineLossCallback(None, h_first.context, every_n_updates=6)
    for value in values[:4]:
        h_first.step(first, [_losses(value)])
    state = first.state_dict()
    h_second = CallbackHarness()
    h_second.counter.load_state_dict(h_first.counter.state_dict())
    second = OnlineLossCallback(None, h_second.context, every_n_updates=6)
    second.load_state_dict(state)
    for value in values[4:]:
        h_second.step(second, [_losses(value)])

    expected = sum(values) / len(values)
    assert h_full.tracker.rows_with("loss/online/total") == {6: pytest.approx(expected)}
    assert h_second.tracker.rows_with("loss/online/total") == {6: pytest.approx(expected)}


def test_state_taken_after_a_fold_resumes_to_the_same_mean():
    """Steps stacked on the device (every 64) and pending ones both reach the checkpoint."""
    values = [float(i % 7) for i in range(100)]
    h_first = CallbackHarness(max_updates=1000)
    first = OnlineLossCallback(None, h_first.context, every_n_updates=100)
    for value in values[:70]:
        h_first.step(first, [_losses(value)])
    h_second = CallbackHarness(max_updates=1000)
    h_second.counter.load_state_dict(h_first.counter.state_dict())
    second = OnlineLossCallback(None, h_second.context, every_n_updates=100)
    second.load_state_dict(first.state_dict())
    for value in values[70:]:
        h_second.step(second, [_losses(value)])
    assert h_second.tracker.rows_with("loss/online/total") == {
        100: pytest.approx(sum(values) / 100)
    }


def test_uneven_micro_batches_log_the_loss_of_the_whole_batch():
    # 7 samples in micro-batches of 4 + 3: the gradient is that of one batch of 7, and so
    # must the logged loss be (the mean over samples, not over the two micro-batches)
    logged = {}
    for max_batch_size in (None, 4):
        torch.manual_seed(0)
        tracker = RecordingTracker()
        config = make_config(
            effective_batch_size=7,
            max_batch_size=max_batch_size,
            max_updates=3,
            add_default_callbacks=True,
            track_every_n_updates=1,
        )
        trainer = make_trainer(config, tracker=tracker)
        torch.manual_seed(0)
        trainer.train(make_model())
        logged[max_batch_size] = tracker.rows_with("loss/online/total")
    assert logged[4].keys() == logged[None].keys() == {1, 2, 3}
    for update, value in logged[None].items():
        assert logged[4][update] == pytest.approx(value, rel=1e-6)
