"""Checkpoint folders where the filesystem refuses a step: no hard links (exFAT, SMB, cloud
mounts), a folder that cannot be deleted (immutable), a run folder deleted under the run."""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path

import pytest

from noether.core.checkpoint.folders import CheckpointError
from noether.core.checkpoint.writer import CheckpointWriter
from noether.core.counters import UpdateCounter
from noether.core.runs import PathProvider
from noether.core.testing import make_model
from noether.core.testing.models import LinearModel


def trained_model() -> LinearModel:
    model = make_model()
    model.initialize(total_updates=10)
    return model


def counted(updates: int) -> UpdateCounter:
    counter = UpdateCounter(updates_per_epoch=5, effective_batch_size=4, max_epochs=4)
    for _ in range(updates):
        counter.add_update()
    return counter


def test_without_hard_links_an_alias_is_published_as_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_links(source: object, target: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    model = trained_model()
    with caplog.at_level(logging.INFO):
        for updates in (1, 2):  # the second replaces `latest`
            counter = counted(updates)
            files = ["model.pt", "optim.pt", "trainer.pt"]
            folder = writer.save(model, counter, counter.tag, also_as={"latest": files})
    latest = writer.path_provider.checkpoint_dir / "latest"
    assert (latest / "optim.pt").read_bytes() == (folder / "optim.pt").read_bytes()
    assert (latest / "optim.pt").stat().st_ino != (folder / "optim.pt").stat().st_ino
    assert CheckpointWriter.load(writer.path_provider.run_dir)["trainer"]["update"] == 2
    assert "no hard links in" in caplog.text
    assert not [p for p in latest.parent.iterdir() if p.name.startswith(".")]


def test_a_checkpoint_that_cannot_be_deleted_is_said_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    first = writer.save(trained_model(), counted(1), counted(1).tag)
    rename = os.rename

    def immutable(source: str | Path, target: str | Path) -> None:
        if Path(source) == first:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(source))
        rename(source, target)

    monkeypatch.setattr(os, "rename", immutable)
    with caplog.at_level(logging.WARNING):
        writer.remove(first.name)  # keep_last pruning it
    assert first.is_dir()
    assert f"could not delete checkpoint {first} (Operation not permitted)" in caplog.text
    writer.save(trained_model(), counted(2), counted(2).tag)  # the run goes on


def test_a_leftover_that_cannot_be_deleted_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    first = writer.save(trained_model(), counted(1), counted(1).tag)

    def busy(path: str | Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EBUSY, "Device or resource busy", str(path))

    monkeypatch.setattr(shutil, "rmtree", busy)
    with caplog.at_level(logging.WARNING):
        writer.remove(first.name)
    assert not first.exists()  # no checkpoint any more: renamed aside
    assert "(Device or resource busy): it keeps its disk space; delete it by hand" in caplog.text


def test_a_run_folder_deleted_under_the_run_is_not_made_again(tmp_path: Path) -> None:
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    writer.save(trained_model(), counted(1), counted(1).tag)
    run_dir = writer.path_provider.run_dir
    shutil.rmtree(run_dir)
    with pytest.raises(CheckpointError, match=f"the run folder {run_dir} is gone"):
        writer.save(trained_model(), counted(2), counted(2).tag)
    assert not run_dir.exists()


def test_a_file_that_cannot_be_kept_in_a_replaced_checkpoint_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    model = trained_model()
    latest = writer.save_latest(model, None)
    (latest / "model_ema=0.9.pt").write_bytes(b"ema weights of another callback")

    def full_disk(source: object, target: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", full_disk)
    with caplog.at_level(logging.WARNING):
        writer.save_latest(model, None)
    assert not (latest / "model_ema=0.9.pt").exists()
    assert f"{latest / 'model_ema=0.9.pt'} is not kept in the new latest (No space" in caplog.text
