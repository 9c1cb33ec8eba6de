"""A file-size limit (`ulimit -f`, EFBIG; a full disk fails the same writes) hit mid-run.

The run stops with exit 1 and a message that names the file (no traceback on the console),
the checkpoints written before stay whole, and `--resume` ends on the uninterrupted run's
weights with each metrics row once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import (
    CONFIG,
    NOETHER_TRAIN,
    assert_same_tensors,
    complete_checkpoints,
    environment,
    manifest,
    metrics,
    noether_train,
    run_dirs,
    weights,
)

from noether.core.checkpoint import CheckpointWriter

ARGS = (
    "trainer.max_epochs=8",  # 96 updates; metrics.jsonl and train.log pass 18 KiB near update 75
    "trainer.callbacks=[{kind: checkpoint, every_n_updates: 1, save_optim: true}]",
)


def _train_with_file_limit(cwd: Path, kib: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`noether-train` under `ulimit -f`; its console goes to pipes, which the limit spares."""
    command = f'ulimit -f {kib}; exec "{NOETHER_TRAIN}" "$@"'
    return subprocess.run(
        ["bash", "-c", command, "bash", str(CONFIG), *ARGS, *args],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_metrics_write_failure_stops_with_a_message_and_resumes_exactly(tmp_path: Path) -> None:
    limited = _train_with_file_limit(tmp_path, 18)
    assert limited.returncode == 1, limited.stderr
    assert "Traceback" not in limited.stderr, limited.stderr
    assert "Logging error" not in limited.stderr, limited.stderr
    assert "metrics.jsonl" in limited.stderr and "File too large" in limited.stderr
    assert "cannot write" in limited.stderr and "train.log" in limited.stderr
    assert "the traceback is in" not in limited.stderr  # train.log could not take it
    (run_dir,) = run_dirs(tmp_path)
    found = complete_checkpoints(run_dir)
    assert found
    for tag, folder in found.items():  # every published checkpoint loads whole
        info = manifest(folder)
        assert info is not None
        loaded = CheckpointWriter.load(run_dir, tag)
        assert loaded["trainer"]["update_counter"]["update"] == info["update"]

    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    reference_cwd = tmp_path / "reference"
    reference_cwd.mkdir()
    reference = noether_train(reference_cwd, CONFIG, *ARGS)
    assert reference.returncode == 0, reference.stderr
    (reference_dir,) = run_dirs(reference_cwd)
    tag = "E8_U96_S768"
    assert_same_tensors(
        weights(run_dir / "checkpoints" / tag), weights(reference_dir / "checkpoints" / tag)
    )
    updates = [row["update"] for row in metrics(run_dir)]
    assert updates == [row["update"] for row in metrics(reference_dir)]


def test_checkpoint_write_failure_names_the_file(tmp_path: Path) -> None:
    limited = _train_with_file_limit(tmp_path, 16)  # trainer.pt is about 17 KB
    assert limited.returncode == 1, limited.stderr
    assert "Traceback" not in limited.stderr, limited.stderr
    assert "File too large" in limited.stderr, limited.stderr
    (run_dir,) = run_dirs(tmp_path)
    # the checkpoint's own file is named, and its partly written staging folder is gone
    written = run_dir.relative_to(tmp_path) / "checkpoints" / "E0_U1_S8" / "trainer.pt"
    assert f"File too large: '{written}'" in limited.stderr, limited.stderr
    assert not complete_checkpoints(run_dir)
    assert not [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("kib", "message"),
    [(0, "cannot write in it: File too large"), (1, "cannot write config.yaml: File too large")],
    ids=["lock", "config"],
)
def test_run_folder_that_cannot_be_set_up_is_removed(
    tmp_path: Path, kib: int, message: str
) -> None:
    """A disk that fills before training starts: a message naming the folder, and no folder
    left that a requeue script would take for a run to resume; the run id stays free."""
    limited = _train_with_file_limit(tmp_path, kib, "--run-id", "first")
    assert limited.returncode == 1, limited.stderr
    assert "Traceback" not in limited.stderr, limited.stderr
    run_dir = Path("runs") / "resume" / "first"
    assert f"run folder {run_dir}: {message}" in limited.stderr, limited.stderr
    assert run_dirs(tmp_path) == []

    started = noether_train(tmp_path, CONFIG, "trainer.max_epochs=1", "--run-id", "first")
    assert started.returncode == 0, started.stderr


def test_tensorboard_write_failure_names_its_folder_without_a_thread_traceback(
    tmp_path: Path,
) -> None:
    """TensorBoard's writer writes from a thread of its own: its failure used to print that
    thread's raw traceback, and the error the run then ended with named no file."""
    command = f'ulimit -f 16; exec "{NOETHER_TRAIN}" "$@"'
    limited = subprocess.run(
        [
            *("bash", "-c", command, "bash", str(CONFIG)),
            *("trainer.callbacks=[]", "trainer.log_every_n_updates=24"),
            "tracker={kind: tensorboard}",
        ],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert limited.returncode == 1, limited.stderr
    assert "Traceback" not in limited.stderr, limited.stderr
    assert "Exception in thread" not in limited.stderr, limited.stderr
    (run_dir,) = run_dirs(tmp_path)
    events = run_dir.relative_to(tmp_path) / "tensorboard"
    assert f"TensorBoard events: File too large: '{events}'" in limited.stderr, limited.stderr
    assert "background thread" in limited.stderr
    assert "Traceback (most recent call last)" in (run_dir / "train.log").read_text()
