"""What a resumed run reports at its end equals what the uninterrupted run reports.

A metric logged only now and then (an evaluation every 2 epochs) and last logged before the
checkpoint the run resumes from is still among the `final ...` lines and in summary.json.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import noether_train

PROJECT = Path(__file__).parent / "train_cli_project"
CONFIG = PROJECT / "experiment.yaml"
# 4 updates per epoch, 3 epochs; the evaluation runs after epoch 2 only
CALLBACKS = (
    "trainer.callbacks=[{kind: offline_loss, dataset_key: train, every_n_epochs: 2},"
    " {kind: checkpoint, every_n_epochs: 1, save_optim: true}]"
)


def final_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("final ")]


def test_a_resumed_run_prints_the_final_values_of_metrics_logged_before_its_checkpoint(
    tmp_path: Path,
) -> None:
    uninterrupted = noether_train(tmp_path, CONFIG, CALLBACKS, "--run-id", "whole")
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    expected = final_lines(uninterrupted.stdout)
    assert "final loss/train/total" in " ".join(expected)  # evaluated after epoch 2

    runs = tmp_path / "runs" / "tiny_regression"
    shutil.copytree(runs / "whole", runs / "resumed")
    resumed = noether_train(tmp_path, "--resume", runs / "resumed", "--checkpoint", "E2_U8_S128")
    assert resumed.returncode == 0, resumed.stderr
    assert final_lines(resumed.stdout) == expected
    summary = json.loads((runs / "resumed" / "summary.json").read_text())
    whole_summary = json.loads((runs / "whole" / "summary.json").read_text())
    assert summary["loss/train/total"] == whole_summary["loss/train/total"]
