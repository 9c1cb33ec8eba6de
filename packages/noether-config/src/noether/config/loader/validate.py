"""Maps pydantic validation errors onto the file, line and key path of each problem."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from noether.config.errors import ConfigIssue
from noether.config.loader.nodes import KeyPath, Loc, child, dotted, locate

_PREFIXES = ("Value error, ", "Assertion failed, ")
_SHOW_INPUT = {"missing", "extra_forbidden", "unknown_kind", "missing_kind", "value_error"}


def _data_path(root: Any, loc: Sequence[Any]) -> KeyPath:
    """The error's location as keys of the data; pydantic-internal steps are dropped."""
    path: list[Any] = []
    node = root
    for index, step in enumerate(loc):
        found, value = child(node, step)
        if found:
            path.append(step)
            node = value
        elif index == len(loc) - 1 or not isinstance(step, str) or "[" not in step:
            path.append(step)  # a missing key: named, though it is not in the file
            node = None
    return tuple(path)


def _message(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        return "unknown key (not allowed here)"
    message = str(error.get("msg", "invalid value"))
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    value = error.get("input")
    scalar = value is None or isinstance(value, str | int | float | bool)
    if kind not in _SHOW_INPUT and scalar:
        shown = repr(value)
        message += f" (got {shown[:60] + '...' if len(shown) > 60 else shown})"
    return message


def _under(path: KeyPath, prefixes: Sequence[KeyPath]) -> bool:
    as_text = tuple(str(part) for part in path)
    for prefix in prefixes:
        wanted = tuple(str(part) for part in prefix)
        if as_text[: len(wanted)] == wanted:
            return True
    return False


def issues_from_validation(
    error: ValidationError, tree: Any, fallback: Loc, skip: Sequence[KeyPath] = ()
) -> list[ConfigIssue]:
    """One issue per pydantic error, at the line of its key (or nearest parent key)."""
    issues: list[ConfigIssue] = []
    for item in error.errors():
        path = _data_path(tree, item.get("loc", ()))
        if _under(path, skip):
            continue
        site = locate(tree, path, fallback)
        message = _message(item)
        if site.note:
            message += f" ({site.note})"
        issues.append(ConfigIssue(site.file, site.line, dotted(path) or "<root>", message))
    return issues
