"""A job stopped by SIGTERM again and again (requeued at every time limit) keeps one signal
checkpoint, not one per requeue, and resumes from it to the end."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import (
    CONFIG,
    TOTAL_UPDATES,
    complete_checkpoints,
    new_train_gate,
    noether_train,
    run_dirs,
    signal_while_training,
    start_train,
)

from noether.core.checkpoint import CheckpointWriter

FINAL_CHECKPOINT = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 4, save_optim: true}]"
FINAL_TAG = "E4_U48_S384"


def _train_until_signalled(cwd: Path, *args: str | Path) -> tuple[int, str]:
    """Runs `noether-train ARGS` and sends SIGTERM while it trains (held at a train step of
    this start); returns (exit code, stderr)."""
    gate = new_train_gate(cwd)
    process = start_train(cwd, *args, train_gate=gate)
    signal_while_training(gate, process, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def _position(run_dir: Path, tag: str) -> int:
    return int(CheckpointWriter.load(run_dir, tag)["trainer"]["update_counter"]["update"])


def test_each_signal_checkpoint_replaces_the_one_before(tmp_path: Path) -> None:
    code, stderr = _train_until_signalled(tmp_path, CONFIG, FINAL_CHECKPOINT)
    assert code == 75, stderr
    (run_dir,) = run_dirs(tmp_path)
    (first,) = [tag for tag in complete_checkpoints(run_dir) if tag.startswith("sigterm_")]
    first_position = _position(run_dir, first)

    code, stderr = _train_until_signalled(tmp_path, "--resume", run_dir)
    assert code == 75, stderr
    (second,) = [tag for tag in complete_checkpoints(run_dir) if tag.startswith("sigterm_")]
    assert _position(run_dir, second) > first_position
    assert f"deleted the older {first}" in stderr
    assert _position(run_dir, "latest") == _position(run_dir, second)

    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert f"from checkpoint {second}" in resumed.stderr
    assert _position(run_dir, FINAL_TAG) == TOTAL_UPDATES
