"""Checkpoint folders as units: publishing, replacing, and what an interrupted write leaves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from noether.core.checkpoint.folders import (
    damaged,
    find,
    finish_interrupted,
    list_checkpoints,
    new_staging_folder,
    newest_resumable,
    publish,
    publish_alias,
    read_manifest,
    recover,
    remove,
    resolve,
    write_manifest,
)


def _staged(
    root: Path,
    tag: str,
    update: int,
    files: tuple[str, ...] = ("model.pt",),
    aliases: dict[str, list[str]] | None = None,
) -> Path:
    folder = new_staging_folder(root, tag)
    for name in files:
        (folder / name).write_text(f"{tag}@{update}")
    position = {"epoch": 0, "update": update, "sample": update * 4}
    write_manifest(folder, tag, position, None, aliases=aliases)
    return folder


def test_a_published_folder_replaces_the_old_one_and_keeps_files_of_other_callbacks(
    tmp_path: Path,
) -> None:
    publish(_staged(tmp_path, "latest", 1), tmp_path / "latest")
    (tmp_path / "latest" / "model_ema=0.9.pt").write_text("ema")
    publish(_staged(tmp_path, "latest", 2), tmp_path / "latest")
    assert (tmp_path / "latest" / "model.pt").read_text() == "latest@2"
    assert (tmp_path / "latest" / "model_ema=0.9.pt").read_text() == "ema"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]  # nothing left aside


def test_a_crash_between_the_two_renames_resolves_to_the_newer_checkpoint(tmp_path: Path) -> None:
    publish(_staged(tmp_path, "latest", 1), tmp_path / "latest")
    staged = _staged(tmp_path, "latest", 2)
    os.rename(tmp_path / "latest", tmp_path / ".retired-latest-0000")  # then the crash
    found = resolve(tmp_path, "latest")
    assert found == staged
    assert [info.update for info in list_checkpoints(tmp_path)] == [2]
    recover(tmp_path)
    assert read_manifest(tmp_path / "latest").update == 2  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


def test_a_crash_before_the_new_folder_was_complete_keeps_the_old_one(tmp_path: Path) -> None:
    publish(_staged(tmp_path, "latest", 1), tmp_path / "latest")
    half = new_staging_folder(tmp_path, "latest")
    (half / "model.pt").write_text("half written")  # no manifest yet: the crash
    os.rename(tmp_path / "latest", tmp_path / ".retired-latest-0000")
    assert read_manifest(resolve(tmp_path, "latest")).update == 1  # type: ignore[arg-type,union-attr]
    recover(tmp_path)
    assert read_manifest(tmp_path / "latest").update == 1  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


@pytest.mark.parametrize("tag", ["../b/E0_U1_S4", "../../runs/b/E0_U1_S4", "..", ".", ""])
def test_a_tag_is_one_folder_of_the_run_never_a_path_to_another(tmp_path: Path, tag: str) -> None:
    other = tmp_path / "b"
    other.mkdir()
    publish(_staged(other, "E0_U1_S4", 1), other / "E0_U1_S4")
    own = tmp_path / "a"
    own.mkdir()
    assert resolve(other, "E0_U1_S4") is not None
    assert resolve(own, tag) is None


def test_a_folder_without_manifest_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "E0_U3_S12").mkdir()
    (tmp_path / "E0_U3_S12" / "model.pt").write_text("?")
    assert resolve(tmp_path, "E0_U3_S12") is None
    assert list_checkpoints(tmp_path) == []


def test_newest_resumable_skips_weights_only_and_error_checkpoints(tmp_path: Path) -> None:
    unit = ("model.pt", "optim.pt", "trainer.pt")
    publish(_staged(tmp_path, "E0_U2_S8", 2, unit), tmp_path / "E0_U2_S8")
    publish(_staged(tmp_path, "best_loss", 5), tmp_path / "best_loss")
    publish(_staged(tmp_path, "error_E0_U6_S24", 6, unit), tmp_path / "error_E0_U6_S24")
    newest = newest_resumable(tmp_path)
    assert newest is not None and newest.tag == "E0_U2_S8"


def test_remove_drops_the_whole_folder_with_the_files_other_callbacks_added(
    tmp_path: Path,
) -> None:
    publish(_staged(tmp_path, "E0_U2_S8", 2, ("model.pt", "optim.pt")), tmp_path / "E0_U2_S8")
    (tmp_path / "E0_U2_S8" / "model_ema=0.9.pt").write_text("ema")
    remove(tmp_path, "E0_U2_S8")
    assert not (tmp_path / "E0_U2_S8").exists()  # EMA weights of that position went with it
    remove(tmp_path, "E0_U2_S8")  # again: nothing to do
    publish(_staged(tmp_path, "E0_U3_S12", 3), tmp_path / "E0_U3_S12")
    remove(tmp_path, "E0_U3_S12")
    assert not (tmp_path / "E0_U3_S12").exists()


def test_a_deletion_cut_short_leaves_nothing_under_the_checkpoints_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(_staged(tmp_path, "E0_U2_S8", 2, ("model.pt", "optim.pt")), tmp_path / "E0_U2_S8")

    def killed(path: Path, ignore_errors: bool = False) -> None:
        raise KeyboardInterrupt  # the process ends while the files are deleted

    monkeypatch.setattr("shutil.rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        remove(tmp_path, "E0_U2_S8")
    monkeypatch.undo()
    assert not (tmp_path / "E0_U2_S8").exists()
    assert damaged(tmp_path) == []  # what is left is no damaged checkpoint
    recover(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_damaged_names_folders_with_checkpoint_files_but_no_readable_manifest(
    tmp_path: Path,
) -> None:
    publish(_staged(tmp_path, "E0_U2_S8", 2), tmp_path / "E0_U2_S8")
    publish(_staged(tmp_path, "E0_U4_S16", 4), tmp_path / "E0_U4_S16")
    (tmp_path / "E0_U4_S16" / "checkpoint.json").write_text('{"format": 1, "tag": ')
    (tmp_path / "E0_U6_S24").mkdir()  # a copy cut short before its manifest
    (tmp_path / "E0_U6_S24" / "trainer.pt").write_text("?")
    (tmp_path / "E0_U3_S12").mkdir()  # EMA weights where no checkpoint was written
    (tmp_path / "E0_U3_S12" / "model_ema=0.9.pt").write_text("ema")
    (tmp_path / ".staging-E0_U8_S32-abcd").mkdir()  # an interrupted write
    (tmp_path / ".staging-E0_U8_S32-abcd" / "model.pt").write_text("partial")
    assert damaged(tmp_path) == ["E0_U4_S16", "E0_U6_S24"]


@pytest.mark.parametrize(
    "leftover", [".staging-latest-1234", ".staging-E1_U2_S3-abcd", ".removed-E1_U2_S3-abcd"]
)
def test_recover_deletes_leftovers_of_interrupted_writes_and_deletions(
    tmp_path: Path, leftover: str
) -> None:
    (tmp_path / leftover).mkdir()
    (tmp_path / leftover / "model.pt").write_text("partial")
    recover(tmp_path)
    assert list(tmp_path.iterdir()) == []


RESUMABLE = ("model.pt", "optim.pt", "trainer.pt")


def test_an_alias_links_the_files_it_holds_under_a_manifest_of_its_own(tmp_path: Path) -> None:
    publish(_staged(tmp_path, "E0_U2_S8", 2, RESUMABLE), tmp_path / "E0_U2_S8")
    publish_alias(tmp_path / "E0_U2_S8", "latest", ["model.pt", "ema.pt"])
    latest = tmp_path / "latest"
    assert sorted(p.name for p in latest.iterdir()) == ["checkpoint.json", "model.pt"]
    assert (latest / "model.pt").stat().st_ino == (tmp_path / "E0_U2_S8" / "model.pt").stat().st_ino
    info = find(tmp_path, "latest")
    assert info is not None and (info.files, info.update) == (("model.pt",), 2)
    assert not info.resumable  # it holds the weights only, as asked


def test_a_resume_publishes_the_aliases_that_a_stop_cut_off_and_clears_leftovers(
    tmp_path: Path,
) -> None:
    publish(_staged(tmp_path, "latest", 2, RESUMABLE), tmp_path / "latest")
    publish(
        _staged(tmp_path, "E0_U4_S16", 4, RESUMABLE, aliases={"latest": list(RESUMABLE)}),
        tmp_path / "E0_U4_S16",
    )
    (tmp_path / ".removed-E0_U1_S4-abcd").mkdir()  # a keep_last deletion cut short
    (tmp_path / ".removed-E0_U1_S4-abcd" / "model.pt").write_text("old")
    # killed here: before the checkpoint at update 4 was published as latest too
    assert finish_interrupted(tmp_path, "E0_U4_S16") == ["latest"]
    latest = find(tmp_path, "latest")
    assert latest is not None and (latest.update, latest.files) == (4, tuple(sorted(RESUMABLE)))
    assert (tmp_path / "latest" / "optim.pt").read_text() == "E0_U4_S16@4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["E0_U4_S16", "latest"]
    assert finish_interrupted(tmp_path, "E0_U4_S16") == []  # nothing left to finish
    assert finish_interrupted(tmp_path, "latest") == []  # an alias lists no aliases


def test_a_checkpoint_without_aliases_leaves_the_other_tags_alone(tmp_path: Path) -> None:
    publish(_staged(tmp_path, "latest", 2, RESUMABLE), tmp_path / "latest")
    publish(_staged(tmp_path, "E0_U4_S16", 4, RESUMABLE), tmp_path / "E0_U4_S16")
    assert finish_interrupted(tmp_path, "E0_U4_S16") == []
    assert read_manifest(tmp_path / "latest").update == 2  # type: ignore[union-attr]
