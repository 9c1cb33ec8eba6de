"""File steps of checkpoint folders that some filesystems refuse: a hard link (exFAT, SMB and
cloud-bucket mounts have none: the file is copied) and deleting a folder (an immutable or
busy file: said, not fatal, as the checkpoint it held is renamed aside already)."""

from __future__ import annotations

import errno
import functools
import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
)
"""What `os.link` fails with where the filesystem (or the mount) has no hard links."""


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link `target` of `source`, or a copy where the filesystem has no hard links
    (said once per folder: each alias then takes the disk space of its files)."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        _say_copying(str(source.parent.parent), error.strerror or str(error))
        shutil.copyfile(source, target)
        with target.open("rb+") as file:  # synced as the files it stands beside
            os.fsync(file.fileno())


@functools.cache
def _say_copying(folder: str, reason: str) -> None:
    logger.info(
        "no hard links in %s (%s): the files of an alias such as latest are copies", folder, reason
    )


def delete_folder(folder: Path) -> None:
    """Deletes `folder` with everything in it. What cannot be deleted is said (it keeps its
    disk space) instead of failing the run."""
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        return
    except OSError as error:
        logger.warning(
            "could not delete %s (%s): it keeps its disk space; delete it by hand",
            folder,
            error.strerror or error,
        )


__all__ = ["delete_folder", "link_or_copy"]
