"""A run folder over its life: stopped, resumed from an earlier tag, moved, copied, rerun.

A resume deletes no checkpoint that it did not plan to (not one written by a process that was
still training there when the resume was planned, nor an alias such as `latest` left past the
resumed position); a resume from a weights-only checkpoint is refused before anything is
built; the run's config.yaml stays a config that starts the experiment from scratch; and a
project renamed with its run folders inside still resumes.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import (
    CONFIG,
    PROJECT,
    complete_checkpoints,
    environment,
    manifest,
    metrics,
    noether_train,
    run_dirs,
    start_train,
    train_command,
)

EPOCH_CHECKPOINTS = (
    "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true},"
    " {kind: best_checkpoint, metric_key: loss/online/total, every_n_epochs: 1}]"
)
FIRST_TAG = "E1_U12_S96"
BEST_TAG = "best_loss.online.total"


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr
        time.sleep(0.01)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped by SIGTERM past its second epoch: E1, E2, ..., `sigterm_<position>`
    (past update 24), and `latest` (an alias of the SIGTERM checkpoint)."""
    cwd = tmp_path_factory.mktemp("stopped")
    process = start_train(cwd, CONFIG, "trainer.max_epochs=40", EPOCH_CHECKPOINTS)
    _wait_for(cwd / "runs" / "resume", process)
    (run_dir,) = run_dirs(cwd)
    _wait_for(run_dir / "checkpoints" / "E2_U24_S192", process)
    while len((run_dir / "metrics.jsonl").read_text().splitlines()) <= 24:  # a row per update
        assert process.poll() is None, process.stderr
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 75, stderr
    return run_dir


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / "resume" / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy


def test_a_resume_from_an_earlier_tag_also_deletes_the_aliases_past_it(
    stopped: Path, tmp_path: Path
) -> None:
    run_dir = _copy_run(stopped, tmp_path)
    assert manifest(run_dir / "checkpoints" / "latest")["update"] > 24  # type: ignore[index]
    result = noether_train(
        tmp_path, "--resume", run_dir, "--checkpoint", FIRST_TAG, "trainer.max_epochs=3"
    )
    assert result.returncode == 0, result.stderr
    # past E1 were E2, ..., sigterm_* and its alias latest: the resumed run rewrote E2 and E3
    found = {tag: manifest(folder) for tag, folder in complete_checkpoints(run_dir).items()}
    updates = {tag: info["update"] for tag, info in found.items() if info and tag != BEST_TAG}
    assert updates == {FIRST_TAG: 12, "E2_U24_S192": 24, "E3_U36_S288": 36}
    rows = [row["update"] for row in metrics(run_dir)]
    assert rows == sorted(set(rows)) and rows[-1] == 36


def test_the_config_yaml_of_a_resumed_run_starts_a_new_run_from_scratch(
    stopped: Path, tmp_path: Path
) -> None:
    run_dir = _copy_run(stopped, tmp_path)
    before = (run_dir / "config.yaml").read_text()
    # from E1: the SIGTERM checkpoint may lie past update 36 (nothing left to train at 3 epochs:
    # such a resume leaves config.yaml as it is)
    result = noether_train(
        tmp_path, "--resume", run_dir, "--checkpoint", FIRST_TAG, "trainer.max_epochs=3"
    )
    assert result.returncode == 0, result.stderr
    after = (run_dir / "config.yaml").read_text()
    assert yaml.safe_load(after)["trainer"]["initializer"] is None
    assert after == before.replace("max_epochs: 40", "max_epochs: 3")
    printed = noether_train(tmp_path, "--print-config", "--resume", run_dir)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == after


def test_a_resume_from_a_weights_only_checkpoint_is_refused_before_anything_is_built(
    stopped: Path,
) -> None:
    for action in ("--dry-run", None):
        args = ["--resume", stopped, "--checkpoint", BEST_TAG, "trainer.max_epochs=3"]
        result = noether_train(stopped.parent, *args, *([action] if action else []))
        assert result.returncode == 1, result.stderr
        assert f"from checkpoint {BEST_TAG!r}" in result.stderr, result.stderr
        assert "without the optimizer and trainer state" in result.stderr, result.stderr
        assert "resumable: E1_U12_S96, E2_U24_S192" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_resume_planned_before_another_process_wrote_a_newer_checkpoint_is_refused(
    stopped: Path, tmp_path: Path
) -> None:
    """A requeued job planned its resume while its predecessor still wrote its SIGTERM
    checkpoint: it neither continues from the older one nor deletes the newer one."""
    run_dir = _copy_run(stopped, tmp_path)
    newest = {  # not yet written when the resume is planned: it plans to continue from E1
        tag: folder
        for tag, folder in complete_checkpoints(run_dir).items()
        if tag != BEST_TAG and manifest(folder)["update"] > 12  # type: ignore[index]
    }
    aside = tmp_path / "aside"
    aside.mkdir()
    for tag, folder in newest.items():
        folder.rename(aside / tag)
    gate = tmp_path / "gate"
    gate.mkdir()
    process = subprocess.Popen(
        train_command("--resume", run_dir, "trainer.max_epochs=3"),
        cwd=tmp_path,
        env=environment(RESUME_IMPORT_GATE=str(gate)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(gate / "importing", process)  # planned, not yet locked: the predecessor ends
    for tag in newest:
        (aside / tag).rename(run_dir / "checkpoints" / tag)
    inodes = {tag: (folder / "model.pt").stat().st_ino for tag, folder in newest.items()}
    rows = (run_dir / "metrics.jsonl").read_text()
    (gate / "go").touch()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "changed while this run started" in stderr and "run the command again" in stderr
    assert {t: (run_dir / "checkpoints" / t / "model.pt").stat().st_ino for t in newest} == inodes
    assert (run_dir / "metrics.jsonl").read_text() == rows


def test_a_project_renamed_with_its_run_folders_resumes(tmp_path: Path) -> None:
    """The user's modules are found next to the config, relative to the run folder, once the
    folder that held both is renamed."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("runs", "__pycache__"))
    args = (
        "trainer.max_epochs=1",
        "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]",
    )
    result = noether_train(project, project / "experiment.yaml", *args)
    assert result.returncode == 0, result.stderr
    moved = project.rename(tmp_path / "renamed")
    (run_dir,) = run_dirs(moved)
    result = noether_train(moved, "--resume", run_dir.relative_to(moved), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "from checkpoint E1_U12_S96" in result.stdout
    (moved / "experiment.yaml").unlink()  # nothing left to find the modules by: said so
    result = noether_train(moved, "--resume", run_dir.relative_to(moved), "--dry-run")
    assert result.returncode == 1
    assert f"the folder of the run's config, {project}, is gone" in result.stderr


def test_a_checkpoint_that_keep_last_was_deleting_when_the_run_died_goes_on_resume(
    tmp_path: Path,
) -> None:
    """Killed after writing a checkpoint and before deleting the one it replaces, a run
    leaves that one: its trainer state says so, and the resumed run deletes it."""
    keep_one = (
        "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true, keep_last: 1}]"
    )
    result = noether_train(tmp_path, CONFIG, "trainer.max_epochs=2", keep_one)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    checkpoints = run_dir / "checkpoints"
    assert set(complete_checkpoints(run_dir)) == {"E2_U24_S192"}
    shutil.copytree(checkpoints / "E2_U24_S192", checkpoints / FIRST_TAG)  # as the kill left it
    result = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=3", keep_one)
    assert result.returncode == 0, result.stderr
    assert set(complete_checkpoints(run_dir)) == {"E3_U36_S288"}
    assert f"deleting checkpoint {FIRST_TAG}" in (run_dir / "train.log").read_text()
