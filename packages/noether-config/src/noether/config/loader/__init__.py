"""YAML loader: files with `extends:` / `!include`, `${...}` references, overrides, validation.

Every problem is reported at once in a `ConfigError`, each with file, line and key path.
Whatever a file holds, loading it stays bounded (`LoaderLimits`) and reads no file outside its
root (`confine`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from noether.config.errors import ConfigError, ConfigIssue
from noether.config.loader.compose import compose
from noether.config.loader.confine import default_root
from noether.config.loader.interpolate import interpolate
from noether.config.loader.limits import Budget, LoaderLimits
from noether.config.loader.local_modules import config_folder, note_composed_files, put_on_path
from noether.config.loader.nodes import KeyPath, LDict, Loc, locate, plain
from noether.config.loader.overrides import apply_overrides

if TYPE_CHECKING:
    from noether.config.schemas.experiment import ExperimentConfig


VARS_KEY = "vars"
"""Top-level mapping of values for `${vars.x}` references; removed before validation."""


@dataclass
class RawConfig:
    """The merged, overridden and interpolated tree of a config file, before validation."""

    path: str
    tree: Any
    """Located tree (`LDict` / `LList` carry the file and line of each key)."""
    issues: list[ConfigIssue] = field(default_factory=list)
    poisoned: list[KeyPath] = field(default_factory=list)
    """Key paths that could not be read or resolved (validation errors below them are skipped)."""

    @property
    def data(self) -> Any:
        """The tree as plain dicts and lists."""
        return plain(self.tree)


def load_raw(
    path: str | os.PathLike[str],
    overrides: Iterable[str] = (),
    *,
    root: str | os.PathLike[str] | None = None,
    limits: LoaderLimits | None = None,
) -> RawConfig:
    """Reads, merges, overrides and interpolates a config; issues are collected, not raised.

    Included and extended files must lie inside `root`; by default the git checkout that holds
    the config, else the config's folder. `limits` bound what the config may expand to.
    """
    name = os.fspath(path)
    budget = Budget(limits or LoaderLimits())
    real_root = os.path.realpath(root) if root is not None else default_root(name)
    composition = compose(name, real_root, budget)
    note_composed_files(composition.files)  # for the error of a module beside a base
    raw = RawConfig(name, composition.tree, composition.issues, composition.poisoned)
    fallback = Loc(name, 1)
    if raw.tree is None and not raw.issues:
        raw.tree = LDict(loc=fallback)  # an empty file
    if raw.tree is not None and not isinstance(raw.tree, dict):
        raw.issues.append(ConfigIssue(name, 1, "<root>", "the top level must be a mapping"))
        raw.poisoned.append(())
        return raw
    if raw.tree is None:
        return raw
    raw.issues.extend(apply_overrides(raw.tree, overrides, fallback, budget))
    issues, poisoned = interpolate(raw.tree, fallback, budget)
    raw.issues.extend(issues)
    raw.poisoned.extend(path for path in poisoned if path[:1] != (VARS_KEY,))
    vars_site = locate(raw.tree, (VARS_KEY,), fallback)
    vars_value = raw.tree.pop(VARS_KEY, None)
    if isinstance(raw.tree, LDict):
        raw.tree.locs.pop(VARS_KEY, None)
    if vars_value is not None and not isinstance(vars_value, dict):
        raw.issues.append(
            ConfigIssue(vars_site.file, vars_site.line, VARS_KEY, "vars must be a mapping")
        )
    return raw


def add_config_folder_to_path(path: str | os.PathLike[str]) -> None:
    """Puts the config's folder on sys.path, after the standard library, so project-local
    schema modules import (`local_modules.folder_modules` keeps those of several folders
    apart)."""
    put_on_path(config_folder(path))


def load_config(
    path: str | os.PathLike[str],
    overrides: Iterable[str] = (),
    *,
    root: str | os.PathLike[str] | None = None,
    limits: LoaderLimits | None = None,
) -> ExperimentConfig:
    """Loads and validates an experiment file (`root` and `limits` as in `load_raw`).

    Raises:
        ConfigError: with every problem found (file, line, key path and message of each).
    """
    from pydantic import ValidationError

    from noether.config.loader.validate import drop_keys_of_replaced_kinds, issues_from_validation
    from noether.config.schemas.experiment import ExperimentConfig

    add_config_folder_to_path(path)
    raw = load_raw(path, overrides, root=root, limits=limits)
    issues = list(raw.issues)
    while raw.tree is not None and () not in raw.poisoned:
        try:
            config = ExperimentConfig.model_validate(raw.data)
        except ValidationError as error:
            if drop_keys_of_replaced_kinds(error, raw.tree):
                continue  # each pass removes keys: it ends
            fallback = Loc(raw.path, 1)
            issues.extend(issues_from_validation(error, raw.tree, fallback, raw.poisoned))
        else:
            if not issues:
                config.attach_sources(raw.tree)  # for `config.where(key)` in later errors
                return config
        break
    if not issues:  # only reachable when every error was below an unreadable part
        issues.append(ConfigIssue(raw.path, 1, "<root>", "the config could not be read"))
    raise ConfigError(reading_order(issues))


def reading_order(issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
    """Issues by file (in the order the files first come up) and by line within each file.

    Validation finds problems in schema order (a key's rules before unknown keys next to it),
    the loader in reading order; a reader fixes a file top to bottom, as a compiler's errors
    read. The sort is stable: issues at one line keep the order they were found in.
    """
    listed = list(issues)
    files: dict[str, int] = {}
    for issue in listed:
        files.setdefault(issue.file, len(files))

    def place(issue: ConfigIssue) -> tuple[int, int]:
        return files[issue.file], issue.line or 0  # a file's issues without a line first

    return sorted(listed, key=place)


__all__ = [
    "ConfigError",
    "ConfigIssue",
    "LoaderLimits",
    "RawConfig",
    "default_root",
    "load_config",
    "load_raw",
]
