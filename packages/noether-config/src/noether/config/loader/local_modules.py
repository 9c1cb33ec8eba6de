"""Project-local schema modules, kept apart between config folders.

`load_config` puts a config's folder on sys.path, so `kind: kinds:NetConfig` imports the
`kinds.py` next to that config. It goes right after the standard library, ahead of installed
packages: a `logging.py` or `json.py` beside a config must not replace Python's own modules
(imported later by torch or by the CLI's output) for the rest of the process.

When one process validates files of several folders (`noether-config validate a/ b/`, a
pre-commit hook given every changed file), each folder's `kinds.py` must be its own: Python
caches a module by name, so without this the second folder's configs were checked against
the first folder's classes.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator
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


_PUT_ON_PATH: set[str] = set()
"""Folders that `put_on_path` added to sys.path (not those that were there before)."""
_LATEST: list[str] = []
"""The folder of the config loaded last (one item at most)."""


_COMPOSED: list[str] = []
"""The folders of the files that the config loaded last extends or includes."""


def note_composed_files(files: Iterable[str]) -> None:
    """Remembers the files that the config being loaded reaches (for `folders_of_bases`)."""
    _COMPOSED[:] = sorted({os.path.dirname(file) for file in files})


def folders_of_bases() -> list[str]:
    """The folders of the files that the config being loaded extends or includes, other than
    its own: a module beside one of them is not imported (named when an import fails)."""
    own = latest_config_folder()
    return [folder for folder in _COMPOSED if folder != own]


def latest_config_folder() -> str | None:
    """The folder of the config being loaded, while it is on sys.path: where a dotted kind's
    module was looked for first (named when the import fails)."""
    return next((folder for folder in _LATEST if folder in sys.path), None)


def put_on_path(folder: str) -> None:
    """Puts a config's folder on sys.path after the standard library (see the module): a
    folder of an earlier config comes first again, so that its modules win over those of the
    same names in later folders; a folder that was on sys.path before keeps its place."""
    _LATEST[:] = [folder]
    if folder in _PUT_ON_PATH:
        before = sys.path.index(folder) if folder in sys.path else None
        while folder in sys.path:
            sys.path.remove(folder)
        place = _after_standard_library()
        sys.path.insert(place, folder)
        if before != place:
            importlib.invalidate_caches()
    elif folder not in sys.path:
        sys.path.insert(_after_standard_library(), folder)
        _PUT_ON_PATH.add(folder)
        importlib.invalidate_caches()


def _after_standard_library() -> int:
    """The index in sys.path after its last entry of the standard library (its folders and
    zip file); 0 where none is found (an embedded interpreter)."""
    # the base interpreter's: a virtual environment's platstdlib holds its site-packages
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    folders = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib")}
    zip_folders = {os.path.dirname(folder) for folder in folders}
    place = 0
    for index, entry in enumerate(sys.path):
        real = os.path.realpath(entry or os.curdir)
        inside = any(real == folder or real.startswith(folder + os.sep) for folder in folders)
        if inside or (real.endswith(".zip") and os.path.dirname(real) in zip_folders):
            place = index + 1
    return place


@contextmanager
def folder_modules(folder: str) -> Iterator[None]:
    """Validates configs of `folder` in the block; afterwards the modules first imported from
    below `folder` (and the kinds their classes registered) are forgotten, so the next folder
    imports its own modules of the same names."""
    before = set(sys.modules)
    try:
        yield
    finally:
        forget_folder_modules(folder, before)


def forget_folder_modules(folder: str, before: set[str]) -> None:
    """Forgets the modules imported from `folder` (a real path, an entry of sys.path) that are
    not among `before` (the names of sys.modules earlier), and the kinds their classes
    registered: the next import of those names finds them anew, in another folder too."""
    local = {name for name in set(sys.modules) - before if _found_in(name, folder)}
    for name in local:
        sys.modules.pop(name, None)
    if local:
        from noether.config.registry import forget_kinds_defined_in

        forget_kinds_defined_in(local)
    importlib.invalidate_caches()
