"""The experiments that use a fragment, so that `validate` given a changed fragment checks them.

A pre-commit hook passes only the changed files. A fragment (`_base.yaml`, `_partials/x.yaml`,
or under `--experiments-only` any YAML file that is no experiment) is no experiment by itself:
it is checked through every experiment that reaches it by `extends:` / `!include`, directly or
through other fragments. Those experiments are found in the fragment's boundary, the folder its
includes may come from (`--root`, else its git checkout's root, else its nearest folder that is
not itself a fragment folder): its experiment files (the `--experiments-only` rule) are composed
with the loader, which follows includes exactly as validation does and reads nothing outside
the root, and each one that reads the fragment is validated. The hook finds the experiments
that extend a changed experiment the same way.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from noether.config.cli_paths import YAML_SUFFIXES, is_experiment_file, is_fragment_name

if TYPE_CHECKING:
    from noether.config.loader.limits import LoaderLimits


@dataclass
class FragmentUsers:
    """The experiments that use the given fragments, each once."""

    experiments: dict[str, list[str]] = field(default_factory=dict)
    """Experiment path (as shown) -> the given fragments it reaches."""
    scopes: dict[str, str] = field(default_factory=dict)
    """Experiment path -> the boundary it was found in (its root outside a git checkout)."""
    unused: list[str] = field(default_factory=list)
    """Given fragments that no experiment reaches."""


def _shown(path: str) -> str:
    """A found file's path as the user would write it: relative below the working directory."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def boundary(fragment: str, root: str | None) -> str:
    """The folder whose experiments may include `fragment` (a real path): `root` when given,
    else the git checkout's root; else, for a fragment inside the working directory, the
    folder above its first `_*` / `.*` folder there (`_parts/a/b/model.yaml`: the working
    directory), and otherwise the nearest folder above it not named `_*` / `.*`."""
    if root is not None:
        return os.path.realpath(root)
    real = os.path.realpath(fragment)
    git_root = _git_root_of(real)
    if git_root is not None:
        return git_root
    folder = os.path.dirname(real)
    cwd = os.path.realpath(os.getcwd())
    if os.path.commonpath([folder, cwd]) == cwd and folder != cwd:
        parts = os.path.relpath(folder, cwd).split(os.sep)
        named = next((i for i, part in enumerate(parts) if is_fragment_name([part])), None)
        if named is not None:
            return os.path.join(cwd, *parts[:named])
    while os.path.basename(folder).startswith(("_", ".")) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


def is_named_fragment(path: str, root: str | None) -> bool:
    """Whether a file named on the command line is a fragment by name: it or a folder between
    it and its boundary (or, outside any, in the path as written) starts with `_` or `.`."""
    real = os.path.realpath(path)
    top = os.path.realpath(root) if root is not None else _git_root_of(real)
    if top is not None and os.path.commonpath([real, top]) == top:
        parts = os.path.relpath(real, top).split(os.sep)
    else:
        parts = path.replace(os.sep, "/").split("/")
    return is_fragment_name(parts)


def _git_root_of(real: str) -> str | None:
    from noether.config.loader.confine import find_git_root

    found = find_git_root(os.path.dirname(real))
    return os.path.realpath(found) if found is not None else None


def _experiments_in(folder: str) -> list[str]:
    """Experiment files below `folder`; fragment and tool folders (`_*`, `.*`) are not entered."""
    found: list[str] = []
    for current, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith(("_", ".")))
        found.extend(
            os.path.join(current, name)
            for name in sorted(names)
            if name.endswith(YAML_SUFFIXES) and not name.startswith(("_", "."))
        )
    return [path for path in found if is_experiment_file(path)]


def _reached(experiment: str, root: str, limits: LoaderLimits) -> set[str] | None:
    """Real paths of the files that composing `experiment` reads; None when that fails."""
    from noether.config.loader.compose import compose
    from noether.config.loader.limits import Budget

    try:
        return compose(experiment, root, Budget(limits)).files
    except (Exception, RecursionError):
        return None


def find_users(
    fragments: list[str],
    root: str | None,
    limits: LoaderLimits,
    exclude: set[str],
    reached_only: Collection[str] = (),
) -> FragmentUsers:
    """The experiments that reach any of `fragments`, except those whose real path is in
    `exclude` (already selected). An experiment whose includes cannot be followed counts as a
    user (validation then reports why), except of the files in `reached_only` (experiments,
    which are validated themselves)."""
    from noether.config.loader.confine import default_root

    users = FragmentUsers()
    wanted = {os.path.realpath(fragment): fragment for fragment in fragments}
    strict = {os.path.realpath(path) for path in reached_only}
    used: set[str] = set()
    by_boundary: dict[str, set[str]] = {}
    for fragment in fragments:
        by_boundary.setdefault(boundary(fragment, root), set()).add(os.path.realpath(fragment))
    reached: dict[tuple[str, str], set[str] | None] = {}  # each experiment composed once
    for folder, targets in by_boundary.items():
        for experiment in _experiments_in(folder):
            real = os.path.realpath(experiment)
            experiment_root = os.path.realpath(root) if root else default_root(experiment, folder)
            if (real, experiment_root) not in reached:
                reached[real, experiment_root] = _reached(experiment, experiment_root, limits)
            files = reached[real, experiment_root]
            hits = sorted((targets - strict if files is None else files & targets) - {real})
            used.update(hits)
            if not hits or real in exclude:
                continue
            shown = _shown(experiment)
            names = users.experiments.setdefault(shown, [])
            names.extend(wanted[hit] for hit in hits if wanted[hit] not in names)
            users.scopes.setdefault(shown, folder)
    users.unused = [fragment for real, fragment in wanted.items() if real not in used]
    return users
