"""`--resume` of a run that an early stopper ended trains nothing more, as `--resume` of a run
that reached its stop criterion does: the stopper's final checkpoint (or a SIGTERM checkpoint
written at that update) holds a position at which the run already stopped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, complete_checkpoints, metrics, noether_train, run_dirs

# 12 updates per epoch; loss/online/total never improves by 100: checks at u4 (first value,
# the best), u8 and u12 (no improvement) -> patience 2 runs out at update 12
METRIC_STOPPER = (
    "trainer.callbacks=[{kind: metric_early_stopper, every_n_updates: 4, "
    "metric_key: loss/online/total, patience: 2, min_delta: 100}]"
)
FIXED_STOPPER = "trainer.callbacks=[{kind: fixed_early_stopper, stop_at_epoch: 1}]"


@pytest.mark.parametrize("stopper", [METRIC_STOPPER, FIXED_STOPPER], ids=["metric", "fixed"])
def test_resuming_an_early_stopped_run_trains_nothing_more(tmp_path: Path, stopper: str) -> None:
    first = noether_train(tmp_path, CONFIG, stopper)
    assert first.returncode == 0, first.stderr
    assert "stopped training early" in first.stderr
    (run_dir,) = run_dirs(tmp_path)
    rows = (run_dir / "metrics.jsonl").read_text()
    assert metrics(run_dir)[-1]["update"] == 12
    checkpoints = sorted(complete_checkpoints(run_dir))
    assert "E1_U12_S96" in checkpoints

    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert (run_dir / "metrics.jsonl").read_text() == rows
    assert sorted(complete_checkpoints(run_dir)) == checkpoints
