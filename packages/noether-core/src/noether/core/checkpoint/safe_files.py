"""Checkpoint files that load without running code: checked when written, refused when not.

Every file is read with `torch.load(weights_only=True)`, whose unpickler builds only tensors,
numbers, strings, containers and a few torch types, so a file that holds anything else (a
pickled object whose loading would run code) is refused, and nothing of it runs. States are
checked for such objects when written, so a callback that keeps, say, a NumPy scalar in its
state fails at the first save with the key named, not at the resume.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import signal
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from noether.core.checkpoint.folders import CheckpointError

_ATOMS = (type(None), bool, int, float, str, torch.dtype, torch.device, torch.Size)


def check_storable(value: Any, where: str) -> None:
    """Raises CheckpointError when `value` holds something `weights_only` loading refuses.

    Args:
        value: a state about to be saved.
        where: its name in messages (e.g. `trainer.callbacks.best_metric`).
    """
    kind = type(value)
    if kind in _ATOMS or isinstance(value, torch.Tensor):
        return
    if kind in (dict, OrderedDict):
        for key, item in value.items():
            if type(key) not in _ATOMS:
                raise CheckpointError(
                    f"{where}: key {key!r} of type {type(key).__name__} cannot be stored"
                )
            check_storable(item, f"{where}.{key}")
        return
    if kind in (list, tuple):
        for index, item in enumerate(value):
            check_storable(item, f"{where}.{index}")
        return
    raise CheckpointError(
        f"{where} holds a {kind.__module__}.{kind.__qualname__}; a checkpoint stores only "
        "tensors, numbers, strings, None and lists / tuples / dicts of them (it is loaded "
        "with torch.load(weights_only=True)); convert it, e.g. float(x) or x.tolist()"
    )


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C's KeyboardInterrupt is raised once the file is written, not inside `torch.save`:
    there torch's writer turned it into its own RuntimeError ("unexpected pos"), and the run
    ended as a failure instead of as interrupted. Main thread, default SIGINT handler only."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def _new_temporary_file(path: Path) -> tuple[int, str]:
    """A new file beside `path`, open for writing, with the mode that the umask gives (as
    `open` would): `tempfile.mkstemp` makes it 0600, and checkpoints stayed unreadable to
    the rest of a team's group on a shared cluster."""
    while True:
        name = str(path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp"))
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name
        except FileExistsError:
            continue


def save_file(obj: Any, path: Path) -> None:
    """`torch.save` to `path` through a synced temporary file and `os.replace` (a crash
    leaves the previous file, or none, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _new_temporary_file(path)
    try:
        with os.fdopen(fd, "wb") as file, _ctrl_c_deferred():
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        failed_write = _failed_write(exc)
        if failed_write is not None:  # a full disk or a file-size limit: name the file it hit
            raise OSError(failed_write.errno, failed_write.strerror, str(path)) from exc
        raise


def _failed_write(exc: BaseException) -> OSError | None:
    """The OSError of a write that failed, without a file name: raised as it is by a flush,
    or the context of torch's own RuntimeError ("unexpected pos") when `torch.save`'s zip
    writer met it."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError):
            return cause if cause.filename is None and cause.errno is not None else None
        cause = cause.__cause__ or cause.__context__
    return None


def load_file(path: Path) -> Any:
    """Reads a checkpoint file onto the CPU without running code from it.

    Raises:
        CheckpointError: the file holds objects that need code to load, or is damaged (its
            bytes no longer match the checksums torch.save stored); the message names it.
    """
    _check_intact(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = _unpickler_reason(error)
        if reason.startswith("Unsupported operand"):  # not a pickle at all (text, garbage)
            raise CheckpointError(
                f"{path}: cannot be read as a checkpoint file: torch.save did not write it"
            ) from None
        raise CheckpointError(
            f"{path}: refused: it holds objects that only code could rebuild, so it was not "
            f"loaded and nothing in it ran ({reason})"
        ) from None
    except (EOFError, OSError, RuntimeError, ValueError) as error:  # OSError: cut short
        raise CheckpointError(f"{path}: cannot be read as a checkpoint file: {error}") from None


def _check_intact(path: Path) -> None:
    """Checks the CRC-32 that torch.save's zip format stores for each part of the file:
    `torch.load` does not, and a flipped bit in a tensor's bytes loaded as a slightly other
    weight, so a resume went on silently from another model."""
    try:
        with open(path, "rb") as file:
            head = file.read(4)
            if not head:
                raise CheckpointError(f"{path}: empty (cut short when written, or damaged since)")
            if head != b"PK\x03\x04":  # not torch.save's zip format: torch.load judges it
                return
            file.seek(0)
            with zipfile.ZipFile(file) as archive:
                damaged = archive.testzip()
    except zipfile.BadZipFile:  # its table of contents, written last, is not whole
        raise CheckpointError(f"{path}: cut short when written, or damaged since") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read: {error.strerror}") from None
    if damaged is not None:
        raise CheckpointError(
            f"{path}: damaged since it was written: the bytes of its part {damaged!r} no "
            "longer match their checksum"
        )


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    """The line of torch's message that names what was refused (e.g. the global)."""
    text = str(error)
    marker = "WeightsUnpickler error:"
    after = text.partition(marker)[2] if marker in text else text
    lines = [line.strip() for line in after.splitlines() if line.strip()]
    return lines[0].split(". ")[0] if lines else type(error).__name__
