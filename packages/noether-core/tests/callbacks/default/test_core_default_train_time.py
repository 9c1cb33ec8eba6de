"""Train time: mean seconds per update of each phase since the last log."""

from __future__ import annotations

import logging

import pytest

from noether.core.callbacks.default.train_time import TrainTimeCallback
from noether.core.stopwatch import Stopwatch
from noether.core.testing import CallbackHarness


def _timings(scale: float) -> dict[str, Stopwatch]:
    """What the loop hands over: one Stopwatch per phase."""
    return {
        "data_wait": Stopwatch(0.001 * scale),
        "forward": Stopwatch(0.002 * scale),
        "backward": Stopwatch(0.003 * scale),
        "update": Stopwatch(0.004 * scale),
    }


def test_each_phase_is_logged_as_mean_seconds_per_update(caplog):
    h = CallbackHarness()
    callback = TrainTimeCallback(None, h.context, every_n_updates=2)
    caplog.set_level(logging.INFO, logger="TrainTimeCallback")
    for scale in (1.0, 3.0, 10.0, 10.0):
        h.step(callback, timings=_timings(scale))
    assert h.tracker.rows_with("time/forward") == {2: pytest.approx(0.004), 4: pytest.approx(0.02)}
    assert h.tracker.rows_with("time/data_wait")[2] == pytest.approx(0.002)
    assert h.tracker.rows_with("time/update")[4] == pytest.approx(0.04)
    lines = [r.getMessage() for r in caplog.records if r.name == "TrainTimeCallback"]
    assert lines[0] == (
        "ms per update over 2 updates: data_wait 2.00, forward 4.00, backward 6.00, update 8.00"
    )


def test_many_updates_fold_into_the_same_means():
    h = CallbackHarness(max_updates=1000)
    callback = TrainTimeCallback(None, h.context, every_n_updates=600)
    for i in range(600):
        h.step(callback, timings={"forward": float(i)})
    assert h.tracker.rows_with("time/forward") == {600: pytest.approx(299.5)}


@pytest.mark.parametrize(
    "updates",
    [
        [{"forward": 1.0, "backward": 2.0}, {"backward": 4.0, "forward": 8.0}],
        [{"forward": 1.0, "backward": 2.0}, {"forward": 4.0, "extra": 8.0}],
        [{"forward": 1.0, "backward": 2.0}, {"forward": 4.0}, {"update": 2.0, "forward": 3.0}],
    ],
    ids=["same keys, other order", "same size, other keys", "other sizes"],
)
def test_each_key_is_summed_over_the_updates_that_timed_it(updates):
    """An overridden `update` may time other phases than the loop's."""
    h = CallbackHarness()
    callback = TrainTimeCallback(None, h.context, every_n_updates=len(updates))
    expected: dict[str, float] = {}
    for timings in updates:
        h.step(callback, timings=timings)
        for key, value in timings.items():
            expected[f"time/{key}"] = expected.get(f"time/{key}", 0.0) + value / len(updates)
    row = h.tracker.rows[-1]
    assert {key: row[key] for key in expected} == pytest.approx(expected)


def test_state_survives_a_stop_and_resume_mid_window():
    h_first = CallbackHarness()
    first = TrainTimeCallback(None, h_first.context, every_n_updates=4)
    for scale in (1.0, 2.0):
        h_first.step(first, timings=_timings(scale))
    h_second = CallbackHarness()
    h_second.counter.load_state_dict(h_first.counter.state_dict())
    second = TrainTimeCallback(None, h_second.context, every_n_updates=4)
    second.load_state_dict(first.state_dict())
    for scale in (3.0, 6.0):
        h_second.step(second, timings=_timings(scale))
    assert h_second.tracker.rows_with("time/backward") == {4: pytest.approx(0.009)}
