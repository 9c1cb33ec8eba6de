"""Text files of a run that are rewritten whole while others may read them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def replace_text(path: Path, text: str) -> None:
    """Writes `text` to `path` through a temporary file and `os.replace`: a reader (a
    checkpoint copying config.yaml, a resume reading run.json) or a kill mid-write sees the
    old file or the new one, never part of one. The temporary name holds the process id, so
    two processes writing the same file do not write into one temporary file.

    Raises:
        OSError: the file could not be written (a full disk, say); it names `path`.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):  # the flush at close names no file
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
