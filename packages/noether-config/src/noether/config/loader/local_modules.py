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
from types import ModuleType


def config_folder(path: str | os.PathLike[str]) -> str:
    """The folder whose modules a config's dotted kinds may import (symlinks resolved).

    `os.path.realpath`, not `Path.resolve`: a symlink loop must reach the loader, which
    reports it as an unreadable file, instead of raising here.
    """
    return os.path.dirname(os.path.realpath(path))


def _defined_inside(module: ModuleType | None, folder: str) -> bool:
    """Whether `module` was loaded from a file or package folder below `folder`."""
    if module is None:
        return False
    places = [getattr(module, "__file__", None), *list(getattr(module, "__path__", []) or [])]
    prefix = folder.rstrip(os.sep) + os.sep
    return any(isinstance(p, str) and os.path.realpath(p).startswith(prefix) for p in places)


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
        local = {
            name
            for name in set(sys.modules) - before
            if _defined_inside(sys.modules.get(name), folder)
        }
        for name in local:
            sys.modules.pop(name, None)
        if local:
            from noether.config.registry import forget_kinds_defined_in

            forget_kinds_defined_in(local)
        importlib.invalidate_caches()
