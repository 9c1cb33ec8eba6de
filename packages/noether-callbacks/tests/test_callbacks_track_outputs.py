"""`track_outputs`: interval means of the trainer's additional_outputs, and clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from noether.callbacks.track_outputs import TrackOutputsCallback
from noether.core.callbacks import CallbackConfigError


def test_track_outputs_logs_the_mean_over_each_interval(make_run: Any) -> None:
    run = make_run(
        callbacks=[{"kind": "track_outputs", "every_n_updates": 2, "keys": ["max_error"]}],
        max_updates=6,
        max_batch_size=2,  # 2 micro-batches per update: 4 values per interval
    ).train()
    seen = run.trainer.outputs_seen
    assert len(seen) == 12
    logged = {
        row["update"]: row["outputs/max_error"] for row in run.rows if "outputs/max_error" in row
    }
    assert sorted(logged) == [2, 4, 6]
    for index, update in enumerate((2, 4, 6)):
        interval = seen[index * 4 : (index + 1) * 4]
        assert logged[update] == pytest.approx(sum(interval) / 4, rel=1e-6)


def test_track_outputs_state_holds_a_partial_interval(make_run: Any) -> None:
    config = {"kind": "track_outputs", "every_n_updates": 4, "keys": ["max_error"]}
    run = make_run(callbacks=[config], max_updates=6).train()  # 2 updates after the last log
    state = run.callback(TrackOutputsCallback).state_dict()
    seen = run.trainer.outputs_seen
    assert state["count"] == 2
    assert state["sums"]["max_error"] == pytest.approx(sum(seen[4:6]), rel=1e-6)
    (fresh,) = make_run(callbacks=[config]).trainer.get_user_callbacks(run.model)
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state


def test_track_outputs_unknown_key_names_the_available_ones(make_run: Any) -> None:
    run = make_run(callbacks=[{"kind": "track_outputs", "every_n_updates": 1, "keys": ["nope"]}])
    with pytest.raises(CallbackConfigError, match=r"no nope \(available: max_error\)"):
        run.train()
