"""A checkpoint whose bytes changed after it was written (a flipped bit on disk, a copy gone
wrong) is refused by `--resume`, naming the file and the checkpoints it could continue from,
instead of training on from weights that are not the ones saved; `load_model` refuses it too.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import (
    assert_same_tensors,
    complete_checkpoints,
    finished_run,
    noether_train,
    weights,
)

from noether.core import load_model
from noether.core.checkpoint import CheckpointError

ARGS = (
    "trainer.max_epochs=3",
    "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]",
)


def flip_one_bit(path: Path) -> str:
    """Flips the lowest bit of a byte in the middle of the file's largest tensor; returns
    the name of its part in the zip file."""
    with zipfile.ZipFile(path) as archive:
        tensors = [info for info in archive.infolist() if "/data/" in info.filename]
        part = max(tensors, key=lambda info: info.file_size)
    with path.open("r+b") as file:
        file.seek(part.header_offset + 26)  # the local header's name and extra lengths
        skip = int.from_bytes(file.read(2), "little") + int.from_bytes(file.read(2), "little")
        at = part.header_offset + 30 + skip + part.file_size // 2
        file.seek(at)
        byte = file.read(1)[0]
        file.seek(at)
        file.write(bytes([byte ^ 1]))
    return part.filename


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 3 epochs with a resumable checkpoint after each."""
    return finished_run(tmp_path_factory.mktemp("reference"), *ARGS)


def test_a_flipped_bit_in_the_newest_checkpoint_is_refused_by_resume(
    reference: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "runs" / "resume" / "stopped"
    shutil.copytree(reference, run_dir)
    shutil.rmtree(run_dir / "checkpoints" / "E3_U36_S288")  # as if stopped after epoch 2
    damaged = run_dir / "checkpoints" / "E2_U24_S192" / "model.pt"
    part = flip_one_bit(damaged)

    refused = noether_train(tmp_path, "--resume", run_dir)
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    assert f"{damaged}: damaged since it was written" in refused.stderr, refused.stderr
    assert f"its part {part!r} no longer match" in refused.stderr, refused.stderr
    assert "--checkpoint TAG): E1_U12_S96" in refused.stderr, refused.stderr
    assert set(complete_checkpoints(run_dir)) == {"E1_U12_S96", "E2_U24_S192"}

    with pytest.raises(CheckpointError, match="damaged since it was written"):
        load_model(run_dir, "E2_U24_S192")

    resumed = noether_train(tmp_path, "--resume", run_dir, "--checkpoint", "E1_U12_S96")
    assert resumed.returncode == 0, resumed.stderr
    tag = "E3_U36_S288"
    assert_same_tensors(
        weights(run_dir / "checkpoints" / tag), weights(reference / "checkpoints" / tag)
    )


def test_an_empty_or_cut_short_file_is_named_as_such(reference: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    optim = run_dir / "checkpoints" / "E3_U36_S288" / "optim.pt"
    optim.write_bytes(b"")
    model = run_dir / "checkpoints" / "E2_U24_S192" / "model.pt"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])

    refused = noether_train(tmp_path, "--resume", run_dir)
    assert refused.returncode == 1, refused.stderr
    assert f"{optim}: empty (cut short when written, or damaged since)" in refused.stderr
    with pytest.raises(CheckpointError, match="cut short when written, or damaged since"):
        load_model(run_dir, "E2_U24_S192")
