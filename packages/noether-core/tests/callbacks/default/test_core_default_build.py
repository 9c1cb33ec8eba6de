"""build_default_callbacks, and the defaults running inside the real BaseTrainer loop."""

from __future__ import annotations

import io
import sys

import pytest

from noether.core.callbacks.default import (
    DefaultCallbackIntervals,
    OnlineLossCallback,
    ProgressCallback,
    TerminalProgressCallback,
    TrainingStabilityCallback,
    build_default_callbacks,
)
from noether.core.testing import (
    CallbackHarness,
    PairDataset,
    RecordingTracker,
    make_config,
    make_trainer,
    make_two_layer_model,
)

TRACKED = ("loss/online/total", "optim/lr")
LOGGED = ("time/data_wait", "time/forward", "time/backward", "time/update", "memory/peak_mb")


class _FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _names(callbacks) -> list[str]:
    return [type(cb).__name__ for cb in callbacks]


def test_intervals_come_from_the_trainers_dict_or_the_dataclass():
    h = CallbackHarness()
    given = {"log": {"every_n_updates": 10}, "track": {"every_n_samples": 8}}
    expected = DefaultCallbackIntervals(log_every_n_updates=10, track_every_n_samples=8)
    assert DefaultCallbackIntervals.from_mapping(given) == expected
    for intervals in (given, expected):
        callbacks = build_default_callbacks(make_config(), h.context, intervals)
        by_name = {type(cb).__name__: cb for cb in callbacks}
        assert by_name["TrainTimeCallback"].every_n_updates == 10
        assert by_name["LrCallback"].every_n_samples == 8
        assert by_name["OnlineLossCallback"].every_n_samples == 8
        assert by_name["OnlineLossConsoleCallback"].every_n_updates == 10


def test_all_defaults_are_built_and_stability_only_when_asked():
    h = CallbackHarness()
    every = DefaultCallbackIntervals(log_every_n_updates=4, track_every_n_updates=2)
    plain = build_default_callbacks(make_config(), h.context, every)
    assert _names(plain) == [
        "DatasetStatsCallback",
        "ParamCountCallback",
        "ProgressCallback",
        "OnlineLossCallback",
        "OnlineLossConsoleCallback",
        "TrainTimeCallback",
        "PeakMemoryCallback",
        "LrCallback",
    ]
    config = make_config(monitor_training_stability=True, monitor_interval=7)
    monitored = build_default_callbacks(config, h.context, every)
    assert isinstance(monitored[-1], TrainingStabilityCallback)
    assert monitored[-1].every_n_updates == 7


def test_progress_is_live_only_on_a_terminal(monkeypatch):
    h = CallbackHarness()
    every = DefaultCallbackIntervals(log_every_n_updates=4, track_every_n_updates=2)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    callbacks = build_default_callbacks(make_config(), h.context, every)
    assert type(callbacks[2]) is ProgressCallback
    monkeypatch.setattr(sys, "stdout", _FakeTty())
    callbacks = build_default_callbacks(make_config(), h.context, every)
    assert type(callbacks[2]) is TerminalProgressCallback


def test_evaluation_only_run_gets_only_the_statistics():
    h = CallbackHarness(max_updates=0)
    every = DefaultCallbackIntervals(log_every_n_updates=4, track_every_n_updates=2)
    callbacks = build_default_callbacks(make_config(), h.context, every)
    assert _names(callbacks) == ["DatasetStatsCallback", "ParamCountCallback"]


@pytest.mark.parametrize(
    ("intervals", "message"),
    [
        ({"log": {"every_n_updates": 1}, "track": {}}, "need a track interval"),
        ({"log": {"every_n_update": 1}, "track": {}}, "unknown log interval keys: every_n_update"),
    ],
)
def test_bad_intervals_are_named(intervals, message):
    h = CallbackHarness()
    with pytest.raises(ValueError, match=message):
        build_default_callbacks(make_config(), h.context, intervals)


def _train(**config):
    tracker = RecordingTracker()
    fields = {"effective_batch_size": 4, "add_default_callbacks": True, **config}
    trainer = make_trainer(make_config(**fields), {"train": PairDataset(32)}, tracker)
    trainer.train(make_two_layer_model())
    return trainer, tracker


def test_defaults_log_every_contract_metric_inside_the_real_loop():
    trainer, tracker = _train(
        max_updates=8,
        log_every_n_updates=4,
        track_every_n_updates=2,
        monitor_training_stability=True,
        monitor_interval=4,
    )
    for key in TRACKED:
        assert sorted(tracker.rows_with(key)) == [2, 4, 6, 8], key
    for key in (*LOGGED, "stability/grad_norm", "stability/param_norm"):
        assert sorted(tracker.rows_with(key)) == [4, 8], key
    assert all(v >= 0 for v in tracker.rows_with("time/forward").values())
    losses = trainer.step_losses
    online = tracker.rows_with("loss/online/total")
    for update in (2, 4, 6, 8):
        expected = sum(losses[update - 2 : update]) / 2
        assert online[update] == pytest.approx(expected, rel=1e-5)
    assert tracker.summaries["dataset/train/size"] == 32
    assert tracker.summaries["model/params/trainable"] == 4 * 3 + 3 + 3 + 1
    assert "optimizer_step" not in vars(trainer.model)  # the model is never patched


def test_online_loss_covers_every_micro_batch_with_accumulation():
    trainer, tracker = _train(
        max_updates=4,
        effective_batch_size=8,
        max_batch_size=4,
        log_every_n_updates=2,
        track_every_n_updates=2,
    )
    losses = trainer.step_losses
    assert len(losses) == 8
    online = tracker.rows_with("loss/online/total")
    assert online == {
        2: pytest.approx(sum(losses[:4]) / 4, rel=1e-5),
        4: pytest.approx(sum(losses[4:]) / 4, rel=1e-5),
    }


def test_default_callbacks_state_is_in_the_trainer_checkpoint():
    trainer, _ = _train(max_updates=3, log_every_n_updates=2, track_every_n_updates=2)
    state = trainer.state_dict()["callbacks"]
    online = next(cb for cb in trainer.callbacks if isinstance(cb, OnlineLossCallback))
    assert state[online.state_key]["track"]["total"][1] == 1.0  # one update since last log
    assert state["TrainTimeCallback"]["count"] == 1


def test_progress_has_one_checkpoint_key_on_a_terminal_and_piped(monkeypatch):
    # a run started on a terminal resumes under SLURM (piped) with the same callback states
    h = CallbackHarness()
    every = DefaultCallbackIntervals(log_every_n_updates=4, track_every_n_updates=2)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    piped = [c.state_key for c in build_default_callbacks(make_config(), h.context, every)]
    monkeypatch.setattr(sys, "stdout", _FakeTty())
    live = [c.state_key for c in build_default_callbacks(make_config(), h.context, every)]
    assert live == piped
    assert "ProgressCallback" in live
