"""Where `!include` and `extends:` may read from: YAML files inside one root folder.

A config from a pull request must not make the validator read files of the machine it runs on
(and echo them into a CI log). So every included or extended file is resolved to its real path
(following `..` and symlinks) and must lie inside the root and end in `.yaml` / `.yml`;
otherwise it is refused before anything is opened. The root is `--root` when given, else the
repository root when the config is inside a git checkout, else the folder named on the command
line (the config's own folder when a file is named).
"""

from __future__ import annotations

import os

from noether.config.loader.nodes import excerpt

CONFIG_SUFFIXES = (".yaml", ".yml")


class IncludeRefused(Exception):
    """An include that may not be read; the message says why, naming it as written."""


def find_git_root(folder: str) -> str | None:
    """The nearest folder at or above `folder` that holds `.git` (a folder, or a file in
    worktrees and submodules); no git process is run."""
    current = os.path.abspath(folder)
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def default_root(config: str | os.PathLike[str], scope: str | None = None) -> str:
    """The root of a config named by a user: its git checkout's root, else `scope` (the folder
    the user named), else the config's own folder; as a real path."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(config)))
    return find_git_root(folder) or os.path.realpath(scope or folder)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


def confine(name: str, including_file: str, root: str, what: str) -> str:
    """The real path of the file that `what` (`!include` or `extends`) `name` in
    `including_file` names; `root` is a real path.

    Raises:
        IncludeRefused: the file is outside `root` (through `..`, an absolute path or a symlink),
            is not a YAML file, or `name` is not a path at all.
    """
    shown = f"{what} {excerpt(name, 200)}"
    joined = os.path.join(os.path.dirname(including_file), name)  # an absolute name stays so
    try:
        real = os.path.realpath(joined)
    except (OSError, ValueError):  # a NUL character, a loop of symlinks
        raise IncludeRefused(f"{shown} is not a usable file path") from None
    if not _inside(real, root):
        raise IncludeRefused(
            f"{shown} is outside the config root {root}: included and extended files must lie "
            "inside it (also through '..', absolute paths and symlinks); widen it with --root"
        )
    if not real.lower().endswith(CONFIG_SUFFIXES):
        raise IncludeRefused(f"{shown} is not a YAML file: only .yaml and .yml files can be used")
    return real
