"""Run folders: `<output_path>/<name>/<run_id>`, created once and never overwritten."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import secrets
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from noether.config.schemas.names import FOLDER_NAME, MAX_NAME_LENGTH

_MAX_ID_ATTEMPTS = 100
RUN_ID_PATTERN = re.compile(FOLDER_NAME)
"""A run id given by the user: one folder name inside `<output_path>/<name>`, like the
experiment's `name`."""


class RunFolderError(OSError):
    """The run folder cannot be made where `output_path` points (not a folder, read-only, ...)."""


class RunInUseError(RuntimeError):
    """Another process is training in the run folder."""


LOCK_FILE = ".lock"
"""Locked by the process training in a run folder; names it (pid and host)."""


def _try_lock(file: IO[str], run_dir: Path, operation: int) -> bool:
    """`flock(operation)` without waiting on the run folder's open lock file; False on a file
    system without locks.

    Raises:
        RunInUseError: another process holds the folder (named as its lock file says).
    """
    import fcntl

    try:
        fcntl.flock(file, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = file.read().strip() or "another process"
        raise RunInUseError(
            f"run folder {run_dir} is in use by {holder}: a second run there would mix their "
            "files; wait for it to end (or stop it) first"
        ) from None
    except OSError:  # a file system without locks
        return False
    return True


def lock_run_folder(run_dir: Path) -> IO[str] | None:
    """Takes the run folder for this process until it ends (or the returned file is closed).

    A second run in the same folder (a `--resume` of a run that still trains, a requeued job
    whose predecessor still writes its checkpoint) would mix both runs' rows and checkpoints.
    The lock is the operating system's (`flock`): a killed process leaves none behind.

    Returns:
        The open lock file, to keep while training; None where the file system has no locks.

    Raises:
        RunInUseError: another process holds the folder (named in the message).
        RunFolderError: the folder cannot be written to.
    """
    if sys.platform == "win32":
        return None
    import fcntl

    try:
        file = (run_dir / LOCK_FILE).open("a+", encoding="utf-8")
    except OSError as exc:
        raise RunFolderError(f"run folder {run_dir}: cannot write in it: {exc.strerror}") from None
    try:
        taken = _try_lock(file, run_dir, fcntl.LOCK_EX)
    except RunInUseError:
        file.close()
        raise
    if not taken:
        file.close()
        return None
    try:
        file.seek(0)
        file.truncate()
        file.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        file.flush()
    except OSError as exc:  # a full disk
        with contextlib.suppress(OSError):  # the write it retries fails again; still closed
            file.close()
        raise RunFolderError(f"run folder {run_dir}: cannot write in it: {exc.strerror}") from None
    return file


def remove_unstarted_run_folder(run_dir: Path, written: Iterable[str]) -> None:
    """Removes a new run folder whose set-up failed (a full disk, say) when it holds only its
    lock and the files that set-up `written`, so that the run id is free again and a requeue
    script that resumes an existing folder does not find a run that never started."""
    with contextlib.suppress(OSError):  # something else is in it: kept
        for name in (LOCK_FILE, *written):
            (run_dir / name).unlink(missing_ok=True)
        run_dir.rmdir()


def check_run_folder_free(run_dir: Path) -> None:
    """Whether `lock_run_folder` would take the folder, without writing in it (a dry run).

    Raises:
        RunInUseError: another process holds the folder (named in the message).
    """
    lock_path = run_dir / LOCK_FILE
    if sys.platform == "win32" or not lock_path.is_file():
        return
    import fcntl

    with lock_path.open(encoding="utf-8") as file:
        if _try_lock(file, run_dir, fcntl.LOCK_SH):
            fcntl.flock(file, fcntl.LOCK_UN)


def check_run_id(run_id: str) -> str:
    """Returns `run_id` when it names one folder of `<output_path>/<name>`.

    Raises:
        ValueError: a path (`/`, `..`), an empty or hidden name, or other characters.
    """
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise ValueError(
            f"run id {run_id!r} is not a folder name: use ASCII letters, digits, '_', '-' and '.' "
            "(not first); the run folder is <output_path>/<name>/<run id>"
        )
    if len(run_id) > MAX_NAME_LENGTH:
        raise ValueError(
            f"run id {run_id[:40]!r}... is not a folder name: it has {len(run_id)} characters, "
            f"file systems take at most {MAX_NAME_LENGTH}"
        )
    return run_id


def run_checkpoint_dir(run_dir: str | os.PathLike[str]) -> Path:
    """Where a run folder keeps its checkpoints, one sub-folder per tag."""
    return Path(run_dir) / "checkpoints"


def run_config_path(run_dir: str | os.PathLike[str]) -> Path:
    """The resolved config a run folder was started with (and resumes from)."""
    return Path(run_dir) / "config.yaml"


def new_run_id() -> str:
    """A fresh id `YYYYmmdd-HHMMSS-<4 hex>`; the random suffix separates runs started together."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def _in_the_way(folder: Path) -> str:
    """What keeps `folder` from being made though its parents could be: a file, or a link
    to a folder that does not exist (an unmounted disk, a moved scratch folder)."""
    for path in (folder, *folder.parents):
        if path.is_symlink() and not path.exists():
            return f"{path} is a link to {os.readlink(path)}, which does not exist"
    return "a file of that name exists"


class PathProvider:
    """Paths of one run folder.

    The folder is made with an exclusive `mkdir`, so two runs never share a folder: when a
    generated id is taken (two runs started in the same second with the same suffix) another id
    is drawn; a given `run_id` that exists is an error unless `reuse_existing` is set.

    Args:
        output_path: folder holding all experiments' run folders.
        name: experiment name (a sub-folder of `output_path`).
        run_id: id of the run; a new one is generated when None.
        reuse_existing: accept an existing folder for a given `run_id` (resuming in place).
        create: make the folder now; False for ranks other than 0, which only need the paths.
    """

    def __init__(
        self,
        output_path: str | os.PathLike[str],
        name: str,
        run_id: str | None = None,
        *,
        reuse_existing: bool = False,
        create: bool = True,
    ) -> None:
        self.output_path = Path(output_path)
        self.name = name
        self.experiment_dir = self.output_path / name
        if run_id is None and not create:
            raise ValueError("a run_id is required when the run folder is not created here")
        if run_id is None:
            self.run_id = self._create_new()
        else:
            # an existing folder (resumed in place) keeps whatever name it has
            self.run_id = run_id if reuse_existing else check_run_id(run_id)
            if create:
                self._create_given(reuse_existing)

    def _make_folder(self, folder: Path, exclusive: bool) -> None:
        """Makes `folder` (`exclusive`: FileExistsError when it exists; else with its parents,
        once); any other error names output_path."""
        try:
            if exclusive:
                folder.mkdir()
            else:
                folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            if exclusive:
                raise
            problem = _in_the_way(folder)
        except OSError as exc:
            problem = str(exc.strerror or exc)
        else:
            return
        raise RunFolderError(
            f"output_path {str(self.output_path)!r}: cannot make the run folder {folder}: {problem}"
        )

    def _create_new(self) -> str:
        self._make_folder(self.experiment_dir, exclusive=False)
        for _ in range(_MAX_ID_ATTEMPTS):
            run_id = new_run_id()
            try:
                self._make_folder(self.experiment_dir / run_id, exclusive=True)
            except FileExistsError:
                continue
            return run_id
        raise RuntimeError(f"could not find a free run id in {self.experiment_dir}")

    def _create_given(self, reuse_existing: bool) -> None:
        self._make_folder(self.experiment_dir, exclusive=False)
        try:
            self._make_folder(self.run_dir, exclusive=True)
        except FileExistsError:
            if not reuse_existing:
                raise FileExistsError(
                    f"run folder {self.run_dir} exists; runs are never overwritten "
                    "(omit the run id to start a new run)"
                ) from None

    @property
    def run_dir(self) -> Path:
        """`<output_path>/<name>/<run_id>`."""
        return self.experiment_dir / self.run_id

    @property
    def checkpoint_dir(self) -> Path:
        """Checkpoints of this run, one sub-folder per tag."""
        return run_checkpoint_dir(self.run_dir)

    @property
    def config_path(self) -> Path:
        """The resolved config of this run."""
        return run_config_path(self.run_dir)

    @property
    def log_path(self) -> Path:
        """The text log of this run."""
        return self.run_dir / "train.log"

    def __repr__(self) -> str:
        return f"PathProvider(run_dir={str(self.run_dir)!r})"


def find_run_dir(output_path: str | os.PathLike[str], name: str, run: str) -> Path:
    """Finds an earlier run folder from a path or a run id.

    Args:
        output_path: folder holding all experiments' run folders.
        name: experiment name, where a bare run id is looked up first.
        run: a run folder (absolute or relative to the working directory) or a run id under
            `<output_path>/<name>`, else under another experiment of `output_path` (a new
            experiment started from another's run).

    Raises:
        FileNotFoundError: neither reading names an existing folder (lists the runs of
            `name`), or the id names runs of several other experiments (lists them).
    """
    as_path = Path(run).expanduser()
    if as_path.is_dir():
        return as_path
    experiment_dir = Path(output_path) / name
    by_id = experiment_dir / run
    if by_id.is_dir():
        return by_id
    elsewhere = _runs_of_other_experiments(Path(output_path), run)
    if len(elsewhere) == 1:
        return elsewhere[0]
    if elsewhere:
        raise FileNotFoundError(
            f"run id {run!r} is a run of several experiments: "
            f"{', '.join(str(path) for path in elsewhere)}; give its folder"
        )
    existing = (
        sorted(p.name for p in experiment_dir.iterdir() if p.is_dir())
        if (experiment_dir.is_dir())
        else []
    )
    listing = ", ".join(existing[-10:]) if existing else "none"
    raise FileNotFoundError(
        f"no run folder {run!r}: neither {as_path} nor {by_id} exists, nor a run {run!r} of "
        f"another experiment in {output_path} (runs in {experiment_dir}: {listing})"
    )


def _runs_of_other_experiments(output_path: Path, run_id: str) -> list[Path]:
    """The folders `<output_path>/<experiment>/<run_id>` (a bare id only, not a path)."""
    if Path(run_id).name != run_id or run_id in (".", "..") or not output_path.is_dir():
        return []
    found = [folder / run_id for folder in output_path.iterdir() if folder.is_dir()]
    return sorted(path for path in found if path.is_dir())
