"""Lazy discovery of kinds published by installed distributions through entry points.

Only package metadata is read here; no schema module is imported until a kind is looked up.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import metadata

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


def import_dotted(module_name: str, attribute: str) -> object:
    import importlib

    obj: object = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    return obj


@functools.cache
def _entries(group: str) -> tuple[KindEntry, ...]:
    seen: dict[tuple[str, str, str], KindEntry] = {}
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"] or "<unknown>"
        for ep in dist.entry_points:
            if ep.group != group:
                continue
            entry = KindEntry(ep.name, group, ep.value, dist_name)
            # The same distribution can be visible twice (two sys.path entries); keep one.
            seen.setdefault((ep.name, ep.value, dist_name), entry)
    return tuple(sorted(seen.values(), key=lambda e: (e.name, e.distribution)))


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


def clear_cache() -> None:
    """Forgets discovered entry points (after installing a package at run time)."""
    _entries.cache_clear()
