"""`metric_early_stopper` on a metric that was NaN at every check: it stops after `patience`
checks and says why in words (there was no best value to format), instead of a
"--- Logging error ---" traceback on the console in place of its stop message."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from noether.callbacks.metric_early_stopper import MetricEarlyStopper
from noether.core.testing import MetricScript

STOPPER = {"kind": "metric_early_stopper", "every_n_updates": 1, "metric_key": "m", "patience": 2}


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]  # raises on a broken format


def test_an_all_nan_metric_stops_after_patience_with_a_readable_message(
    make_run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    nan = float("nan")
    run = make_run(probes=[lambda ctx: MetricScript(ctx, "m", [nan] * 6)], callbacks=[STOPPER])
    with caplog.at_level(logging.INFO):
        run.train()
    assert run.trainer.update_counter.update == 2
    stops = [m for m in _messages(caplog) if "stopping at E0_U2_S8" in m]
    assert stops == ["m had no comparable value (NaN) for 2 checks; stopping at E0_U2_S8"]


def test_a_resumed_run_stopped_on_an_all_nan_metric_stays_stopped_readably(
    make_run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    run = make_run(callbacks=[STOPPER])
    (stopper,) = [cb for cb in run.trainer.get_user_callbacks(run.model)]
    assert isinstance(stopper, MetricEarlyStopper)
    stopper.load_state_dict({"best_value": None, "checks_without_improvement": 2})
    caplog.set_level(logging.INFO)
    with pytest.raises(Exception, match="stopped improving"):
        stopper.before_training()
    assert any("had no comparable value (NaN) for 2 checks" in m for m in _messages(caplog))
