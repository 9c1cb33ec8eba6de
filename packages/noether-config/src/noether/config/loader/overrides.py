"""Command-line overrides `key.path=value`, applied to the merged tree before interpolation.

A value is parsed by the same guarded composer as the files and charged to the config's
budget: an alias bomb or a deep value on a command line (a sweep tool's, a CI job's) ends in
an error naming the override, like one in a file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from noether.config.errors import ConfigIssue, type_with_article
from noether.config.loader.limits import Budget, LoaderLimits
from noether.config.loader.nodes import (
    KeyPath,
    LDict,
    LList,
    Loc,
    as_index,
    attach,
    dotted,
    excerpt,
    locate,
)
from noether.config.loader.yaml_guard import (
    ExpansionGuard,
    YamlRefusedError,
    construct_bounded_int,
)


class _ValueLoader(ExpansionGuard, yaml.SafeLoader):
    """SafeLoader whose nodes are charged to a budget (call `guard`); plain containers."""


_ValueLoader.add_constructor("tag:yaml.org,2002:int", construct_bounded_int)


class _OverrideError(Exception):
    def __init__(self, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def parse_override(text: str, budget: Budget | None = None) -> tuple[KeyPath, Any]:
    """`trainer.callbacks.0.every_n_epochs=2` -> (('trainer', 'callbacks', '0', ...), 2).

    The key path and the value are bounded by `budget` (a fresh one by default).
    """
    budget = budget or Budget(LoaderLimits())
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:
        raise _OverrideError((key,) if key else (), "expected key.path=value")
    parts = tuple(key.split("."))
    if not key or any(not part for part in parts):
        raise _OverrideError((), f"invalid key path {key!r}")
    if len(parts) > budget.limits.max_depth:
        limit = budget.limits.max_depth
        raise _OverrideError(
            (), f"the key path is nested more than {limit} levels deep (limit max_depth)"
        )
    if not raw.strip():  # YAML reads it as null: a CI job's unset variable unset the key
        raise _OverrideError(
            parts,
            f"no value after '=' (a shell variable that is not set?); {key}=null sets null",
        )
    try:
        loader = _ValueLoader(raw)  # its reader refuses control characters at once
    except yaml.YAMLError as error:
        raise _OverrideError(parts, _yaml_error_text(error)) from None
    loader.guard(budget, len(parts))
    try:
        value = loader.get_single_data()
        if loader.differing_numbers:
            raise loader.differing_numbers[0]
    except YamlRefusedError as error:
        where = dotted((*parts, *error.path))
        raise _OverrideError(parts, f"value at {where}: {error.message}") from None
    except yaml.YAMLError as error:
        raise _OverrideError(parts, _yaml_error_text(error)) from None
    finally:
        loader.dispose()
    return parts, value


def _yaml_error_text(error: yaml.YAMLError) -> str:
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"value is not valid YAML ({first})"


def _set(root: dict[Any, Any], parts: KeyPath, value: Any, loc: Loc) -> None:
    node: Any = root
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = parts[: depth + 1]
        if isinstance(node, dict):
            if last:
                if value is None and isinstance(node.get(part), dict):
                    del node[part]  # as in an overlay (`deep_merge`): the default applies
                    if isinstance(node, LDict):
                        node.locs.pop(part, None)
                    return
                node[part] = attach(value, loc)
                if isinstance(node, LDict):
                    node.locs[part] = loc
                return
            if part not in node or node[part] is None:
                if as_index(str(parts[depth + 1])) is not None:
                    raise _OverrideError(
                        (*here, parts[depth + 1]), f"there is no list at {dotted(here)} to index"
                    )
                node[part] = LDict(loc=loc)
                if isinstance(node, LDict):
                    node.locs[part] = loc
            node = node[part]
        elif isinstance(node, list):
            index = as_index(str(part))
            if index is None:
                raise _OverrideError(here, f"{dotted(parts[:depth])} is a list; use an index")
            if index >= len(node):
                raise _OverrideError(
                    here, f"index {index} is out of range (the list has {len(node)} items)"
                )
            if last:
                node[index] = attach(value, loc)
                if isinstance(node, LList) and index < len(node.locs):
                    node.locs[index] = loc
                return
            node = node[index]
        else:
            parent = dotted(parts[:depth]) or "<root>"
            raise _OverrideError(
                here, f"cannot set a key inside {parent}, which is {type_with_article(node)}"
            )


def apply_overrides(
    root: Any, overrides: Iterable[str], fallback: Loc, budget: Budget | None = None
) -> list[ConfigIssue]:
    """Applies each override in order; a bad one is reported and leaves the tree unchanged.

    Their values are charged to `budget`, the config's (a fresh one by default).
    """
    budget = budget or Budget(LoaderLimits())
    issues: list[ConfigIssue] = []
    for text in overrides:
        path: KeyPath = ()
        try:
            path, value = parse_override(text, budget)
            if not isinstance(root, dict):
                raise _OverrideError(path, "the config is not a mapping")
            site = locate(root, path, fallback)
            _set(root, path, value, site.with_note(f"set by override {excerpt(text, 200)}"))
        except _OverrideError as error:
            path = error.path or path
            site = locate(root, path, fallback)
            key = dotted(path) or "<root>"
            issues.append(
                ConfigIssue(
                    site.file, site.line, key, f"bad override {excerpt(text, 200)}: {error.message}"
                )
            )
    return issues
