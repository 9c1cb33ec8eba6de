"""Lazy discovery of kinds published by installed distributions through entry points.

Only package metadata is read here; no schema module is imported until a kind is looked up.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

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
    distribution: str

    def load(self) -> object:
        """Imports the published object (a schema class or, for losses, a callable)."""
        module_name, _, attribute = self.value.partition(":")
        return import_dotted(module_name, attribute)


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
    import importlib

    obj: object = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    return obj


@functools.cache
def all_entries() -> dict[str, tuple[KindEntry, ...]]:
    """Every `noether.*` entry point of every installed distribution, by group.

    Scans `*.dist-info` / `*.egg-info` folders on sys.path directly instead of importing
    `importlib.metadata` (which costs more than the scan): `noether-config` start-up matters.
    """
    seen: dict[tuple[str, str, str, str], KindEntry] = {}
    for folder in _metadata_folders():
        try:
            with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            continue
        if "[noether." not in text:
            continue
        dist_name = _distribution_name(folder)
        for group, name, value in _parse_entry_points(text):
            if group.startswith("noether."):
                # The same distribution can be visible twice (two sys.path entries); keep one.
                seen.setdefault(
                    (group, name, value, dist_name), KindEntry(name, group, value, dist_name)
                )
    by_group: dict[str, list[KindEntry]] = {}
    for entry in sorted(seen.values(), key=lambda e: (e.group, e.name, e.distribution)):
        by_group.setdefault(entry.group, []).append(entry)
    return {group: tuple(entries) for group, entries in by_group.items()}


def _metadata_folders() -> list[str]:
    folders: list[str] = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        folders.extend(
            os.path.join(entry or ".", name)
            for name in sorted(names)
            if name.endswith((".dist-info", ".egg-info"))
        )
    return folders


def _distribution_name(folder: str) -> str:
    """The `Name:` of the distribution's METADATA (PKG-INFO), else from the folder name."""
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, filename), encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith("Name:"):
                        return line[5:].strip()
                    if not line.strip():
                        break
        except OSError:
            continue
    return os.path.basename(folder).split("-")[0].replace("_", "-")


def _parse_entry_points(text: str) -> list[tuple[str, str, str]]:
    """(group, name, value) of an entry_points.txt (INI sections of `name = value`)."""
    found: list[tuple[str, str, str]] = []
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif "=" in line and group:
            name, _, value = line.partition("=")
            found.append((group, name.strip(), value.strip()))
    return found


def _entries(group: str) -> tuple[KindEntry, ...]:
    return all_entries().get(group, ())


def kind_entries(group: str) -> dict[str, KindEntry]:
    """Returns the short names of one group.

    Raises:
        DuplicateKindError: when two distributions publish the same name.
    """
    by_name: dict[str, KindEntry] = {}
    for entry in _entries(group):
        previous = by_name.get(entry.name)
        if previous is not None and previous.distribution != entry.distribution:
            raise DuplicateKindError(
                f"kind {entry.name!r} in entry-point group {group!r} is registered by two "
                f"distributions: {previous.distribution} ({previous.value}) and "
                f"{entry.distribution} ({entry.value}); uninstall one of them"
            )
        by_name[entry.name] = entry
    return by_name


def find_kind(group: str, name: str) -> KindEntry | None:
    """The entry point publishing `name` in `group`, if any.

    Raises:
        DuplicateKindError: when two distributions publish this name (other names of the
            group stay usable).
    """
    matches = [entry for entry in _entries(group) if entry.name == name]
    distributions = {entry.distribution for entry in matches}
    if len(distributions) > 1:
        first, second = (
            matches[0],
            next(e for e in matches if e.distribution != matches[0].distribution),
        )
        raise DuplicateKindError(
            f"kind {name!r} in entry-point group {group!r} is registered by two "
            f"distributions: {first.distribution} ({first.value}) and "
            f"{second.distribution} ({second.value}); uninstall one of them"
        )
    return matches[0] if matches else None


def clear_cache() -> None:
    """Forgets discovered entry points (after installing a package at run time)."""
    all_entries.cache_clear()
