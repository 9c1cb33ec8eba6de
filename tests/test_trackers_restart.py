"""A run that failed before its first checkpoint, continued with `noether-train --resume`
(which then starts it again from the beginning), reads back in TensorBoard and MLflow as one
uninterrupted run: every step once, the summary values of its start once.

tests/failing_project fails at update 6 of 8 and writes no checkpoint; the resume turns the
failure off.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import noether_train

PROJECT = Path(__file__).parent / "failing_project"
SUMMARIES = ("summary/dataset/train/size", "summary/model/params/trainable")


def failed_then_resumed(tmp_path: Path, tracker: str) -> Path:
    shutil.copytree(PROJECT, tmp_path, dirs_exist_ok=True)
    failed = noether_train(tmp_path, "experiment.yaml", f"tracker={{kind: {tracker}}}")
    assert failed.returncode == 1, failed.stderr
    (run_dir,) = (tmp_path / "runs" / "failing").iterdir()
    resumed = noether_train(tmp_path, "--resume", run_dir, "model.fail_at=0")
    assert resumed.returncode == 0, resumed.stderr
    assert "starts again from the beginning" in resumed.stderr
    return run_dir


def test_tensorboard_of_a_run_started_again_holds_each_step_and_summary_once(
    tmp_path: Path,
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator as ServedAccumulator,
    )

    run_dir = failed_then_resumed(tmp_path, "tensorboard")
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert [s.step for s in events.Scalars("loss/online/total")] == list(range(1, 9))
    for tag in SUMMARIES:
        assert [s.step for s in events.Scalars(tag)] == [0], tag
    # the reader TensorBoard's dashboards are served from (`--load_fast=false`): it took the
    # restart's session start for the run's first and kept the failed part's steps
    served = ServedAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0})
    served.Reload()
    assert [e.step for e in served.Tensors("loss/online/total")] == list(range(1, 9))


def test_mlflow_of_a_run_started_again_holds_each_step_and_summary_once(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    run_dir = failed_then_resumed(tmp_path, "mlflow").resolve()
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    assert client.get_run(run_id).info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run_id, "loss/online/total")]
    assert sorted(steps) == list(range(1, 9))
    for key in SUMMARIES:
        assert [m.step for m in client.get_metric_history(run_id, key)] == [0], key
