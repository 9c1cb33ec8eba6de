"""A callback whose config names what the run does not have stops it with a message.

`track_outputs` keys that the trainer does not return, or a metric callback listed before the
callback that logs its metric, are mistakes in the experiment file: `noether-train` reports
them as one message naming the callback and what exists, at the file, line and key of the
setting to change, exit 1, never a traceback.
"""

from __future__ import annotations

import shutil
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
            "trainer.callbacks.0.keys: track_outputs: the trainer's additional_outputs have no "
            "max_error (available: none)",
        ),
        (
            "[{kind: best_metric, every_n_updates: 2, metric_key: loss/val/total}]",
            "trainer.callbacks.0.metric_key: best_metric: metric 'loss/val/total' has not been "
            "logged",
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
    error = next(line for line in done.stderr.splitlines() if "ERROR noether.train" in line)
    # the override that set the callbacks, at the line of trainer.callbacks in the file
    assert f"ERROR noether.train: {CONFIG}:24 (set by override 'trainer.callbacks=" in error
    assert f"): {message}" in error


def test_a_callback_config_error_in_the_file_points_at_its_line(tmp_path: Path) -> None:
    """Written in the experiment file (not an override), the message names the reader's line."""
    text = CONFIG.read_text().replace(
        "    - {kind: checkpoint,",
        "    - kind: track_outputs\n      every_n_updates: 2\n      keys: [max_error]\n"
        "    - {kind: checkpoint,",
    )
    shutil.copytree(CONFIG.parent, tmp_path / "project")  # the config beside its modules
    config = tmp_path / "project" / "experiment.yaml"
    config.write_text(text)
    done = noether_train(tmp_path, config)
    assert done.returncode == 1, done.stderr
    line = text.splitlines().index("      keys: [max_error]") + 1
    assert f"ERROR noether.train: {config}:{line}: trainer.callbacks.0.keys: track_outputs:" in (
        done.stderr
    )
