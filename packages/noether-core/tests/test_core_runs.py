"""Run folders are created once, never reused, and found again by path or id."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from noether.core import runs
from noether.core.runs import (
    PathProvider,
    RunFolderError,
    RunInUseError,
    check_run_folder_free,
    find_run_dir,
    lock_run_folder,
)


def test_new_run_folder_layout(tmp_path: Path) -> None:
    provider = PathProvider(tmp_path / "out", "exp")
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", provider.run_id)
    assert provider.run_dir == tmp_path / "out" / "exp" / provider.run_id
    assert provider.run_dir.is_dir()
    assert provider.checkpoint_dir == provider.run_dir / "checkpoints"
    assert provider.config_path == provider.run_dir / "config.yaml"
    assert provider.log_path == provider.run_dir / "train.log"


def test_two_runs_get_two_folders(tmp_path: Path) -> None:
    first = PathProvider(tmp_path, "exp")
    (first.run_dir / "marker").write_text("first")
    second = PathProvider(tmp_path, "exp")
    assert second.run_dir != first.run_dir
    assert (first.run_dir / "marker").read_text() == "first"
    assert list(second.run_dir.iterdir()) == []


def test_colliding_generated_id_draws_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter(["20260101-000000-aaaa", "20260101-000000-aaaa", "20260101-000000-bbbb"])
    monkeypatch.setattr(runs, "new_run_id", lambda: next(ids))
    first = PathProvider(tmp_path, "exp")
    (first.run_dir / "marker").write_text("kept")
    second = PathProvider(tmp_path, "exp")
    assert first.run_id == "20260101-000000-aaaa"
    assert second.run_id == "20260101-000000-bbbb"
    assert (first.run_dir / "marker").read_text() == "kept"


def test_an_existing_run_id_is_never_reused_unless_asked(tmp_path: Path) -> None:
    first = PathProvider(tmp_path, "exp", run_id="fixed")
    (first.run_dir / "marker").write_text("kept")
    with pytest.raises(FileExistsError, match="never overwritten"):
        PathProvider(tmp_path, "exp", run_id="fixed")
    again = PathProvider(tmp_path, "exp", run_id="fixed", reuse_existing=True)
    assert again.run_dir == first.run_dir
    assert (first.run_dir / "marker").read_text() == "kept"


def test_non_creating_provider_only_computes_paths(tmp_path: Path) -> None:
    provider = PathProvider(tmp_path, "exp", run_id="r1", create=False)
    assert provider.run_dir == tmp_path / "exp" / "r1"
    assert not provider.run_dir.exists()


def test_find_run_dir_by_path_or_id(tmp_path: Path) -> None:
    provider = PathProvider(tmp_path, "exp")
    assert find_run_dir(tmp_path, "exp", str(provider.run_dir)) == provider.run_dir
    assert find_run_dir(tmp_path, "exp", provider.run_id) == provider.run_dir
    with pytest.raises(FileNotFoundError, match=provider.run_id):
        find_run_dir(tmp_path, "exp", "missing-run")


def test_a_run_id_of_another_experiment_is_found_unless_several_have_it(tmp_path: Path) -> None:
    """A new experiment (`name: finetune`) started from a run of `pretrain` by its id: the id
    was looked up under `finetune` alone."""
    pretrain = PathProvider(tmp_path, "pretrain", run_id="20261206-041323-abfc")
    assert find_run_dir(tmp_path, "finetune", "20261206-041323-abfc") == pretrain.run_dir

    PathProvider(tmp_path, "ablation", run_id="20261206-041323-abfc")
    with pytest.raises(FileNotFoundError) as error:
        find_run_dir(tmp_path, "finetune", "20261206-041323-abfc")
    assert str(error.value) == (
        "run id '20261206-041323-abfc' is a run of several experiments: "
        f"{tmp_path / 'ablation' / '20261206-041323-abfc'}, "
        f"{tmp_path / 'pretrain' / '20261206-041323-abfc'}; give its folder"
    )
    # its own experiment's run comes first
    own = PathProvider(tmp_path, "finetune", run_id="20261206-041323-abfc")
    assert find_run_dir(tmp_path, "finetune", "20261206-041323-abfc") == own.run_dir


@pytest.mark.parametrize("where", ["a_file", "a_file/below", "/proc/no_folder_here"])
def test_an_output_path_where_no_folder_can_be_made_is_a_run_folder_error(
    tmp_path: Path, where: str
) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    output_path = where if where.startswith("/") else tmp_path / where
    with pytest.raises(RunFolderError, match=r"output_path .*cannot make the run folder"):
        PathProvider(output_path, "exp")


def test_an_experiment_name_taken_by_a_file_is_a_run_folder_error(tmp_path: Path) -> None:
    (tmp_path / "exp").write_text("not a folder")
    with pytest.raises(RunFolderError, match="a file of that name exists"):
        PathProvider(tmp_path, "exp", "run1")


def test_an_output_path_linked_to_a_missing_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "scratch").symlink_to(tmp_path / "unmounted" / "scratch")
    with pytest.raises(RunFolderError) as raised:
        PathProvider(tmp_path / "scratch" / "runs", "exp")
    assert str(raised.value).endswith(
        f"{tmp_path / 'scratch'} is a link to {tmp_path / 'unmounted' / 'scratch'}, which does "
        "not exist"
    )


def test_a_run_folder_is_locked_once_and_free_again_when_its_holder_lets_go(
    tmp_path: Path,
) -> None:
    held = lock_run_folder(tmp_path)
    assert held is not None
    with pytest.raises(RunInUseError, match=rf"in use by process {os.getpid()} on "):
        lock_run_folder(tmp_path)
    held.close()
    again = lock_run_folder(tmp_path)
    assert again is not None
    again.close()


def test_a_run_folder_that_is_gone_cannot_be_locked(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="cannot write in it"):
        lock_run_folder(tmp_path / "missing")


def test_a_held_run_folder_is_seen_in_use_without_writing_in_it(tmp_path: Path) -> None:
    check_run_folder_free(tmp_path)  # never locked: no .lock file, nothing made
    assert list(tmp_path.iterdir()) == []
    held = lock_run_folder(tmp_path)
    assert held is not None
    written = (tmp_path / ".lock").read_text()
    with pytest.raises(RunInUseError, match=rf"in use by process {os.getpid()} on "):
        check_run_folder_free(tmp_path)
    held.close()
    check_run_folder_free(tmp_path)  # let go of (or left by a killed process): free
    assert (tmp_path / ".lock").read_text() == written
