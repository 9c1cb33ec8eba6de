"""A callback whose config names what the run does not have stops it with a message.

`track_outputs` keys that the trainer does not return, or a metric callback listed before the
callback that logs its metric, are mistakes in the experiment file: `noether-train` reports
them as one message naming the callback and what exists, exit 1, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, noether_train


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        (
            "[{kind: track_outputs, every_n_updates: 2, keys: [max_error]}]",
            "track_outputs: the trainer's additional_outputs have no max_error (available: none)",
        ),
        (
            "[{kind: best_metric, every_n_updates: 2, metric_key: loss/val/total}]",
            "best_metric: metric 'loss/val/total' has not been logged",
        ),
    ],
    ids=["track_outputs", "best_metric"],
)
def test_a_callback_config_that_does_not_fit_the_run_is_a_message(
    tmp_path: Path, callbacks: str, message: str
) -> None:
    done = noether_train(tmp_path, CONFIG, f"trainer.callbacks={callbacks}")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"ERROR noether.train: {message}" in done.stderr
