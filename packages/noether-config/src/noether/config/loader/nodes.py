"""Config trees that remember where every key came from (file, line) for error messages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

PathKey = str | int
KeyPath = tuple[PathKey, ...]


@dataclass(frozen=True)
class Loc:
    """Where a key or list item is written: file and 1-based line, plus an optional note."""

    file: str
    line: int | None
    note: str | None = None
    """Extra context appended to messages, e.g. that an override set the value."""
    source: str | None = None
    """Where a whole-value `${...}` reference took the value from (`${vars.e} at b.yaml:3`):
    a bad value is written there."""
    other_kind: str | None = None
    """The `kind` this key was written for, when a later file changed its section's kind
    (`deep_merge`): the key is dropped if the new kind has no such field."""

    def with_note(self, note: str) -> Loc:
        return replace(self, note=note)


class LDict(dict[Any, Any]):
    """A mapping that records the location of each of its keys and of itself."""

    def __init__(self, *args: Any, loc: Loc | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc: Loc = loc or Loc("<unknown>", None)
        self.locs: dict[Any, Loc] = {}


class LList(list[Any]):
    """A list that records the location of each of its items and of itself."""

    def __init__(self, *args: Any, loc: Loc | None = None) -> None:
        super().__init__(*args)
        self.loc: Loc = loc or Loc("<unknown>", None)
        self.locs: list[Loc] = []


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-<>]+")


def dotted(path: Sequence[PathKey]) -> str:
    """`('trainer', 'callbacks', 0)` -> `trainer.callbacks.0`; odd keys are JSON-quoted, and
    keys longer than 60 characters are cut short (quoted, ending in `...`)."""
    return ".".join(_segment(part) for part in path)


def _segment(part: Any) -> str:
    if isinstance(part, int) and not isinstance(part, bool):
        return str(part)
    text = str(part)
    if isinstance(part, str) and len(text) <= 60 and _PLAIN_KEY.fullmatch(text):
        return text
    import json  # only odd keys need it; start-up matters

    return json.dumps(text if len(text) <= 60 else text[:60] + "...")


def excerpt(value: Any, limit: int = 60) -> str:
    """`repr` of a value from a config, cut to a short single line for an error message."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def join_key(prefix: KeyPath, key: str) -> str:
    """Dotted path of `key` (already dotted, or `<root>`) below `prefix`."""
    if not prefix:
        return key
    return dotted(prefix) if key == "<root>" else f"{dotted(prefix)}.{key}"


def child(node: Any, key: PathKey) -> tuple[bool, Any]:
    """Looks one step down a tree: (found, value). Digit strings index lists."""
    if isinstance(node, dict):
        if key in node:
            return True, node[key]
        if isinstance(key, int) and str(key) in node:
            return True, node[str(key)]
        for actual, value in node.items():  # non-string YAML keys (1.5, true) appear as text
            if not isinstance(actual, str) and str(actual) == str(key):
                return True, value
        return False, None
    if isinstance(node, list):
        index = as_index(key)
        if index is not None and 0 <= index < len(node):
            return True, node[index]
    return False, None


def as_index(key: PathKey) -> int | None:
    """A list index given as an int or as ASCII digits (at most 18 of them); else None."""
    if isinstance(key, int):
        return key
    return int(key) if key.isascii() and key.isdigit() and len(key) <= 18 else None


def locate(root: Any, path: Sequence[PathKey], default: Loc) -> Loc:
    """Location of the key at `path`, or of its nearest existing parent when it is missing."""
    node = root
    loc = root.loc if isinstance(root, LDict | LList) else default
    for key in path:
        found, value = child(node, key)
        if not found:
            break
        if isinstance(node, LDict):
            if key in node.locs:
                loc = node.locs[key]
            else:  # a non-string YAML key (1.5, true) named as text
                actual = next((k for k in node if k == key or str(k) == str(key)), key)
                loc = node.locs.get(actual, loc)
        elif isinstance(node, LList):
            index = as_index(key)
            if index is not None and index < len(node.locs):
                loc = node.locs[index]
        node = value
    return loc


def attach(value: Any, loc: Loc) -> Any:
    """Turns plain containers (e.g. an override's value) into located ones, all at `loc`."""
    if isinstance(value, dict):
        out = LDict(loc=loc)
        for key, item in value.items():
            out[key] = attach(item, loc)
            out.locs[key] = loc
        return out
    if isinstance(value, list):
        seq = LList((attach(item, loc) for item in value), loc=loc)
        seq.locs = [loc] * len(seq)
        return seq
    return value


def copy_tree(value: Any) -> Any:
    """A copy of a tree with new mappings and lists (located ones keep their locations);
    scalars are shared."""
    if isinstance(value, LDict):
        mapping = LDict(((key, copy_tree(item)) for key, item in value.items()), loc=value.loc)
        mapping.locs = dict(value.locs)
        return mapping
    if isinstance(value, LList):
        items = LList((copy_tree(item) for item in value), loc=value.loc)
        items.locs = list(value.locs)
        return items
    if isinstance(value, dict):
        return {key: copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_tree(item) for item in value]
    return value


def plain(value: Any) -> Any:
    """A copy with ordinary dicts and lists, as handed to pydantic."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def deep_merge(base: Any, over: Any) -> Any:
    """`over` on top of `base`: mappings merge key by key, anything else is replaced.

    A null over a mapping removes that key (a base's dataset, its tracker: the default
    applies). Where `over` changes a section's `kind`, the keys only the base wrote are marked
    with the old kind (`Loc.other_kind`): validation drops those the new kind does not have,
    so a subclass keeps its base's settings and another kind starts from its own.
    """
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    merged = LDict(loc=over.loc if isinstance(over, LDict) else Loc("<unknown>", None))
    base_locs = base.locs if isinstance(base, LDict) else {}
    over_locs = over.locs if isinstance(over, LDict) else {}
    other_kind = _changed_kind(base, over)
    for key, value in base.items():
        merged[key] = value
        loc = base_locs.get(key)
        if other_kind is not None and key not in over:
            loc = replace(loc or Loc("<unknown>", None), other_kind=other_kind)
        if loc is not None:
            merged.locs[key] = loc
    for key, value in over.items():
        if value is None and isinstance(merged.get(key), dict):
            del merged[key]
            merged.locs.pop(key, None)
            continue
        merged[key] = deep_merge(merged[key], value) if key in merged else value
        if key in over_locs:
            merged.locs[key] = over_locs[key]
    return merged


def _changed_kind(base: dict[Any, Any], over: dict[Any, Any]) -> str | None:
    """The base's `kind` when `over` names another one, else None."""
    if "kind" in base and "kind" in over and base["kind"] != over["kind"]:
        return str(base["kind"])
    return None
