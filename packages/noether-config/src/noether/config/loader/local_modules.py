"""Project-local schema modules, kept apart between config folders.

`load_config` puts a config's folder first on sys.path, so `kind: kinds:NetConfig` imports the
`kinds.py` next to that config. When one process validates files of several folders (`noether-
config validate a/ b/`, a pre-commit hook given every changed file), each folder's `kinds.py`
must be its own: Python caches a module by name, so without this the second folder's configs
were checked against the first folder's classes.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def config_folder(path: str | os.PathLike[str]) -> str:
    """The folder whose modules a config's dotted kinds may import (symlinks resolved).

    `os.path.realpath`, not `Path.resolve`: a symlink loop must reach the loader, which
    reports it as an unreadable file, instead of raising here.
    """
    return os.path.dirname(os.path.realpath(path))


def _found_in(name: str, folder: str) -> bool:
    """Whether module `name` came from `folder` as an entry of sys.path: its top-level module
    or package lies right in `folder`. Modules of packages installed below it (a project's own
    `.venv`) or of noether itself never count: unloading those would split their classes."""
    top_name = name.partition(".")[0]
    top = sys.modules.get(top_name)
    if top is None or top_name == "noether":
        return False
    package_folders = list(getattr(top, "__path__", None) or [])
    if package_folders:
        places = [os.path.dirname(os.path.realpath(p)) for p in package_folders]
    else:
        file = getattr(top, "__file__", None)
        places = [os.path.dirname(os.path.realpath(file))] if isinstance(file, str) else []
    return folder in places


_PUT_FIRST: set[str] = set()
"""Folders that `put_first_on_path` added to sys.path (not those that were there before)."""


def put_first_on_path(folder: str) -> None:
    """Puts a config's folder first on sys.path: a folder of an earlier config comes first
    again, so that its modules win over those of the same names in later folders; a folder
    that was on sys.path before keeps its place."""
    if folder in _PUT_FIRST and sys.path[:1] != [folder]:
        while folder in sys.path:
            sys.path.remove(folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)
        _PUT_FIRST.add(folder)
        importlib.invalidate_caches()


@contextmanager
def folder_modules(folder: str) -> Iterator[None]:
    """Validates configs of `folder` in the block; afterwards the modules first imported from
    below `folder` (and the kinds their classes registered) are forgotten, so the next folder
    imports its own modules of the same names."""
    before = set(sys.modules)
    try:
        yield
    finally:
        local = {name for name in set(sys.modules) - before if _found_in(name, folder)}
        for name in local:
            sys.modules.pop(name, None)
        if local:
            from noether.config.registry import forget_kinds_defined_in

            forget_kinds_defined_in(local)
        importlib.invalidate_caches()
