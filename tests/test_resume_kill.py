"""SIGKILL at random moments while checkpoints are written every update.

Every checkpoint left behind is whole (weights, optimizer and counters of one update, equal to
the uninterrupted run's at that update), and a chain of `noether-train --resume` ends on the
uninterrupted run's weights, bitwise, with each metrics row written once.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import (
    CONFIG,
    assert_same_tensors,
    complete_checkpoints,
    manifest,
    metrics,
    noether_train,
    run_dirs,
    start_train,
)

from noether.core.checkpoint import CheckpointWriter, newest_resumable

KILLS = 8
EPOCHS = "trainer.max_epochs=8"  # 96 updates
TOTAL = 96
EVERY_UPDATE_TAGGED = "trainer.callbacks=[{kind: checkpoint, every_n_updates: 1, save_optim: true}]"
EVERY_UPDATE_ROLLING = (
    "trainer.callbacks=[{kind: checkpoint, every_n_updates: 1, save_optim: true, keep_last: 2,"
    " save_latest_weights: true, save_latest_optim: true}]"
)


def _latest_update(run_dir: Path | None) -> int:
    if run_dir is None:
        return -1
    infos = [manifest(p) for p in complete_checkpoints(run_dir).values()]
    return max((info["update"] for info in infos if info), default=-1)


def _check_every_checkpoint(run_dir: Path, reference: dict[int, Path], context: str) -> None:
    """Each complete checkpoint equals the uninterrupted run's at the same update."""
    found = complete_checkpoints(run_dir)
    assert found, context
    for tag, folder in found.items():
        info = manifest(folder)
        assert info is not None
        expected = reference[info["update"]]
        where = f"{context}: {tag} (update {info['update']})"
        loaded = CheckpointWriter.load(run_dir, tag)  # safe loading of the whole unit
        assert_same_tensors(loaded["model"], torch.load(expected / "model.pt"), where)
        assert_same_tensors(loaded["optim"], torch.load(expected / "optim.pt"), where)
        assert loaded["trainer"]["update_counter"]["update"] == info["update"], where
    assert newest_resumable(run_dir / "checkpoints") is not None, context


def test_sigkill_at_random_moments_never_leaves_a_mixed_checkpoint_and_resumes_exactly(
    tmp_path: Path,
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    context = f"random seed {seed}"

    reference_cwd = tmp_path / "reference"
    reference_cwd.mkdir()
    result = noether_train(reference_cwd, CONFIG, EPOCHS, EVERY_UPDATE_TAGGED)
    assert result.returncode == 0, result.stderr
    (reference_dir,) = run_dirs(reference_cwd)
    reference = {
        info["update"]: folder
        for folder in complete_checkpoints(reference_dir).values()
        if (info := manifest(folder)) is not None
    }
    assert sorted(reference) == list(range(1, TOTAL + 1))

    cwd = tmp_path / "chain"
    cwd.mkdir()
    args: list[str | Path] = [CONFIG, EPOCHS, EVERY_UPDATE_ROLLING]
    run_dir: Path | None = None
    kills = 0
    while True:
        process = start_train(cwd, *args)
        started_at = _latest_update(run_dir)
        deadline = time.monotonic() + 120
        early = kills < KILLS and rng.random() < 0.15  # now and then, during start-up
        wait_until = time.monotonic() + rng.uniform(0.2, 2.5)
        while process.poll() is None and time.monotonic() < deadline:
            if run_dir is None and run_dirs(cwd):
                (run_dir,) = run_dirs(cwd)
            if early and time.monotonic() >= wait_until:
                break
            if not early and _latest_update(run_dir) > started_at:
                time.sleep(rng.uniform(0.0, 0.05))
                break
            time.sleep(0.002)
        if process.poll() is not None or kills >= KILLS:
            _, stderr = process.communicate(timeout=240)
            assert process.returncode == 0, f"{context}\n{stderr}"
            break
        process.kill()
        process.communicate(timeout=60)
        kills += 1
        if run_dir is None and run_dirs(cwd):
            (run_dir,) = run_dirs(cwd)
        if run_dir is not None:  # without a checkpoint yet, --resume starts it again
            if _latest_update(run_dir) >= 0:
                _check_every_checkpoint(run_dir, reference, f"{context}, after kill {kills}")
            args = ["--resume", run_dir]

    assert kills == KILLS, context
    assert run_dir is not None
    final = CheckpointWriter.load(run_dir, "latest")
    assert final["trainer"]["update_counter"]["update"] == TOTAL
    assert_same_tensors(final["model"], torch.load(reference[TOTAL] / "model.pt"), context)
    assert_same_tensors(final["optim"], torch.load(reference[TOTAL] / "optim.pt"), context)

    rows, expected_rows = metrics(run_dir), metrics(reference_dir)
    assert [row["update"] for row in rows] == [row["update"] for row in expected_rows], context
    for row, expected in zip(rows, expected_rows, strict=True):
        for key in ("loss/online/mse", "optim/lr"):
            assert row.get(key) == expected.get(key), f"{context}: {key} at {row['update']}"
