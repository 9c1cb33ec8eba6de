"""A run killed after writing a checkpoint and before publishing it as `latest` too (or while
keep_last deleted an older one) gets both finished by `--resume`, also when the resume has
nothing left to train: `--checkpoint latest` then names the run's last checkpoint, as it does
for the run that was never killed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, complete_checkpoints, manifest, noether_train, run_dirs

CHECKPOINTS = (
    "{kind: checkpoint, every_n_epochs: 1, save_optim: true, save_latest_optim: true, keep_last: 2}"
)
ENDINGS = {
    # 4 epochs of 12 updates: the resume has nothing left to train
    "stop criterion": f"trainer.callbacks=[{CHECKPOINTS}]",
    # the resume builds the trainer, whose early stopper stops it at once
    "early stop": f"trainer.callbacks=[{CHECKPOINTS}, {{kind: fixed_early_stopper, "
    "stop_at_epoch: 2}]",
}


@pytest.mark.parametrize("callbacks", ENDINGS.values(), ids=ENDINGS.keys())
def test_a_resume_publishes_the_latest_that_a_kill_cut_off(tmp_path: Path, callbacks: str) -> None:
    first = noether_train(tmp_path, CONFIG, callbacks)
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    checkpoints = run_dir / "checkpoints"
    tagged = sorted(
        (folder for tag, folder in complete_checkpoints(run_dir).items() if tag != "latest"),
        key=lambda folder: manifest(folder)["update"],  # type: ignore[index]
    )
    before, last = tagged[-2:]
    uninterrupted = {name: (checkpoints / "latest" / name).read_bytes() for name in ("model.pt",)}
    rows = (run_dir / "metrics.jsonl").read_text()
    # as a kill leaves it after `last` was written: `latest` still the checkpoint before, and
    # the one that keep_last deleted renamed aside, not yet gone
    shutil.rmtree(checkpoints / "latest")
    shutil.copytree(before, checkpoints / "latest")
    leftover = checkpoints / ".removed-E0_U12_S96-0a1b2c3d"
    shutil.copytree(before, leftover)

    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert f"published checkpoint {last.name} as latest" in resumed.stderr
    assert manifest(checkpoints / "latest")["update"] == manifest(last)["update"]  # type: ignore[index]
    for name, content in uninterrupted.items():
        assert (checkpoints / "latest" / name).read_bytes() == content
    assert not leftover.exists()
    assert (run_dir / "metrics.jsonl").read_text() == rows  # nothing trained, no rows added

    again = noether_train(tmp_path, "--resume", run_dir, "--checkpoint", "latest")
    assert again.returncode == 0, again.stderr
    assert "published checkpoint" not in again.stderr
