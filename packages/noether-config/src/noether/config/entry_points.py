"""Lazy discovery of kinds published by installed distributions through entry points.

Only package metadata is read here (`importlib.metadata`); no schema module is imported until a
kind is looked up.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from typing import Protocol

ENTRY_POINT_GROUPS: dict[str, str] = {
    "trainers": "noether.trainers",
    "callbacks": "noether.callbacks",
    "optimizers": "noether.optimizers",
    "schedules": "noether.schedules",
    "models": "noether.models",
    "datasets": "noether.datasets",
    "trackers": "noether.trackers",
    "initializers": "noether.initializers",
    "losses": "noether.losses",
}


class DuplicateKindError(Exception):
    """Two distributions publish the same short name in one entry-point group."""


@dataclass(frozen=True)
class KindEntry:
    """One short name as published by one distribution."""

    name: str
    group: str
    value: str
    """What the name points to, as `module:attribute` (extras markers left out)."""
    entry_point: EntryPoint = field(repr=False, compare=False)

    @property
    def distribution(self) -> str:
        """Name of the distribution that publishes this entry (read only when asked for)."""
        dist = self.entry_point.dist
        return dist.name if dist is not None else "<unknown distribution>"

    def load(self) -> object:
        """Imports the published object (a schema class or, for losses, a callable).

        Raises:
            ImportError: also for a value that is no `module:attribute` (a malformed entry
                point; importlib would raise an AttributeError of its own parsing).
        """
        if _parsed_value(self.entry_point) is None:
            raise ImportError(
                f"the entry point's value {self.value!r} is not 'module:attribute' "
                f"(in {self.distribution}'s entry_points.txt)"
            )
        return self.entry_point.load()


def _parsed_value(entry_point: EntryPoint) -> str | None:
    """`module:attribute` (or `module`) of an entry point, extras left out; None for a value
    that is neither, which importlib cannot parse (its `module` raises AttributeError)."""
    try:
        module, attribute = entry_point.module, entry_point.attr
    except AttributeError:
        return None
    return f"{module}:{attribute}" if attribute else module


def split_dotted_path(path: str) -> tuple[str, str]:
    """Splits `pkg.mod:attr` or `pkg.mod.attr` into module and attribute.

    Raises:
        ValueError: the path names no module or no attribute.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"{path!r} is not a dotted path (package.module:name)")
    return module_name, attribute


def import_dotted(module_name: str, attribute: str) -> object:
    """Imports `module_name` and walks the dotted `attribute` inside it.

    A `__main__` module is refused unimported: importing one runs its program (`venv.__main__`
    would create folders named after the command line's words), and a config from a pull
    request must not run programs by naming them.

    Raises:
        ImportError: the module cannot be imported, or is a `__main__` module.
    """
    if "__main__" in module_name.split("."):
        raise ImportError(
            f"{module_name!r} is a __main__ module: importing it runs a program; "
            "name the module that defines the class"
        )
    obj: object = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    return obj


class _Selectable(Protocol):
    """What `entry_points()` returns on every supported Python (EntryPoints from 3.12 on)."""

    def select(self, *, group: str) -> EntryPoints: ...

    @property
    def groups(self) -> set[str]: ...


@functools.cache
def _published() -> _Selectable:
    """Every entry point of every installed distribution, read once: one scan of the metadata
    serves all groups (`entry_points(group=...)` would scan it again for each group)."""
    return entry_points()


@functools.cache
def group_entries(group: str) -> tuple[KindEntry, ...]:
    """The entry points of one group, sorted by short name."""
    found = [
        KindEntry(ep.name, group, _parsed_value(ep) or ep.value, ep)
        for ep in _published().select(group=group)
    ]
    return tuple(sorted(found, key=lambda entry: entry.name))


def _duplicate(group: str, name: str, matches: list[KindEntry]) -> DuplicateKindError | None:
    """The error for a name that two distributions publish, if they do."""
    first = matches[0]
    other = next((e for e in matches[1:] if e.distribution != first.distribution), None)
    if other is None:
        return None
    return DuplicateKindError(
        f"kind {name!r} in entry-point group {group!r} is registered by two "
        f"distributions: {first.distribution} ({first.value}) and "
        f"{other.distribution} ({other.value}); uninstall one of them, or name the one "
        f"meant by its path ({first.value} or {other.value})"
    )


def kind_entries(group: str) -> dict[str, KindEntry]:
    """Returns the short names of one group.

    Raises:
        DuplicateKindError: when two distributions publish the same name.
    """
    by_name: dict[str, list[KindEntry]] = {}
    for entry in group_entries(group):
        by_name.setdefault(entry.name, []).append(entry)
    for name, matches in by_name.items():
        error = _duplicate(group, name, matches) if len(matches) > 1 else None
        if error is not None:
            raise error
    return {name: matches[0] for name, matches in by_name.items()}


def find_kind(group: str, name: str) -> KindEntry | None:
    """The entry point publishing `name` in `group`, if any.

    Raises:
        DuplicateKindError: when two distributions publish this name (other names of the
            group stay usable).
    """
    matches = [entry for entry in group_entries(group) if entry.name == name]
    error = _duplicate(group, name, matches) if len(matches) > 1 else None
    if error is not None:
        raise error
    return matches[0] if matches else None


def published_elsewhere(group: str, name: str) -> list[KindEntry]:
    """Entries named `name` in other `noether.*` groups, including misspelt ones
    (`noether.model`): why a name that a distribution publishes is unknown in `group`."""
    others = (other for other in _noether_groups() if other != group)
    return [entry for other in others for entry in group_entries(other) if entry.name == name]


@functools.cache
def _noether_groups() -> tuple[str, ...]:
    """Every published group named `noether.*`, sorted (read once: an unknown kind repeated
    by YAML aliases asks for them each time)."""
    return tuple(sorted(g for g in _published().groups if g.startswith("noether.")))


def unread_noether_groups() -> tuple[str, ...]:
    """Published groups named `noether.*` that noether reads no kind from (a misspelt
    `noether.model`)."""
    read = set(ENTRY_POINT_GROUPS.values())
    return tuple(group for group in _noether_groups() if group not in read)


def clear_cache() -> None:
    """Forgets discovered entry points (after installing a package at run time)."""
    importlib.invalidate_caches()
    _published.cache_clear()
    _noether_groups.cache_clear()
    group_entries.cache_clear()
