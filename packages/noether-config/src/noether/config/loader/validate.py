"""Maps pydantic validation errors onto the file, line and key path of each problem."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from noether.config.errors import ConfigIssue, ConfigRulesError
from noether.config.field_rules import FieldRuleError
from noether.config.loader.nodes import KeyPath, LDict, Loc, child, dotted, excerpt, locate
from noether.config.schemas.names import FOLDER_NAME

_PREFIXES = ("Value error, ", "Assertion failed, ")
_SHOW_INPUT = {
    "missing",
    "extra_forbidden",
    "unknown_kind",
    "missing_kind",
    "kind_not_allowed",
    "kind_string",
    "value_error",
    "bool_for_number",
}
_QUOTED = re.compile(
    r"(?<![\w'\"])(?:'[^'\\\n]*+(?:\\.[^'\\\n]*+)*+'|\"[^\"\\\n]*+(?:\\.[^\"\\\n]*+)*+\")(?!\w)"
)
"""A quoted value in a message (e.g. an unknown kind); a quote right after a word character
closes a value, so the text between two quoted values never matches. Runs of plain characters
repeat one character class, not a group per character: regex memory would grow with the length."""


def _shorten_quoted(quoted: re.Match[str]) -> str:
    text = quoted.group(0)
    return text if len(text) <= 62 else text[:60] + "..."


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
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == FOLDER_NAME:
        return (
            "a name, not a path: ASCII letters, digits, '_', '-' and '.' (not first) "
            f"(got {excerpt(error.get('input'))})"
        )
    message = str(error.get("msg", "invalid value"))
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    message = _QUOTED.sub(_shorten_quoted, message)
    message = " ".join(message.splitlines())  # e.g. from the import of a user's schema module
    value = error.get("input")
    scalar = value is None or isinstance(value, str | int | float | bool)
    if kind not in _SHOW_INPUT and scalar:
        message += f" (got {excerpt(value)})"
    if kind == "string_type" and isinstance(value, bool | int | float):
        read_as = "booleans (yes/no, on/off, true/false)" if isinstance(value, bool) else "numbers"
        message += f"; YAML reads unquoted {read_as} as such: quote the value for text"
    return message


def _about_unread_fields(item: Any, path: KeyPath, skipped: set[tuple[str, ...]]) -> bool:
    """Whether a broken rule between fields is about one that could not be read (an
    `!include` of a missing file left it empty): that failure is reported, this is noise."""
    rule = item.get("ctx", {}).get("error")
    fields = rule.fields if isinstance(rule, FieldRuleError) else ()
    return any(_under((*path, name), skipped) for name in fields)


def _under(path: KeyPath, prefixes: set[tuple[str, ...]]) -> bool:
    as_text = tuple(str(part) for part in path)
    return any(as_text[:length] in prefixes for length in range(len(as_text) + 1))


_KEY_FIRST = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w\-]+)+): ")
"""A whole-config rule names the key it is about first (`trainer.callbacks.1.metric_key: ...`)."""


def _key_in_message(message: str) -> tuple[KeyPath, str]:
    """(the key path that a root-level message starts with, the rest), else (no path, the
    message). The key may be missing (`datasets.train: required ...`): it is reported at its
    nearest existing parent."""
    match = _KEY_FIRST.match(message)
    if match is None:
        return (), message
    steps = [int(part) if part.isdigit() else part for part in match.group(1).split(".")]
    return tuple(steps), message[match.end() :]


def _messages(item: Any) -> list[str]:
    """The messages of one pydantic error: one per broken rule of a `ConfigRulesError`."""
    error = item.get("ctx", {}).get("error")
    if isinstance(error, ConfigRulesError):
        return [_message({**item, "msg": text}) for text in error.messages]
    return [_message(item)]


def _overridden_fields(tree: Any, path: KeyPath, item: Any, fallback: Loc) -> str:
    """For a one-of rule broken by an override (`trainer.max_updates=100` over a file's
    max_epochs): which field the override set, and how to unset the other (`=null`)."""
    error = item.get("ctx", {}).get("error")
    given = error.conflicting if isinstance(error, FieldRuleError) else ()
    notes = {name: locate(tree, (*path, name), fallback).note for name in given}
    overridden = [name for name, note in notes.items() if note]
    if not overridden or len(overridden) == len(given):
        return ""
    unset = " ".join(f"{dotted((*path, name))}=null" for name in given if not notes[name])
    keep = overridden[0]
    return f" ({dotted((*path, keep))} {notes[keep]}; add {unset} to unset the other)"


def drop_keys_of_replaced_kinds(error: ValidationError, tree: Any) -> bool:
    """Removes from `tree` the unknown keys that a base wrote for another kind than the one a
    later file chose (`Loc.other_kind`); whether any were removed (validate again then)."""
    dropped = False
    for item in error.errors():
        if item.get("type") != "extra_forbidden":
            continue
        path = _data_path(tree, item.get("loc", ()))
        if not path:
            continue
        found, parent = True, tree
        for step in path[:-1]:
            found, parent = child(parent, step)
            if not found:
                break
        key = path[-1]
        if not found or not isinstance(parent, LDict) or key not in parent:
            continue
        if parent.locs.get(key, Loc("", None)).other_kind is not None:
            del parent[key]
            parent.locs.pop(key, None)
            dropped = True
    return dropped


def issues_from_validation(
    error: ValidationError, tree: Any, fallback: Loc, skip: Sequence[KeyPath] = ()
) -> list[ConfigIssue]:
    """One issue per pydantic error, at the line of its key (or nearest parent key)."""
    issues: list[ConfigIssue] = []
    skipped = {tuple(str(part) for part in prefix) for prefix in skip}
    for item in error.errors():
        found_at = _data_path(tree, item.get("loc", ()))
        if _under(found_at, skipped) or _about_unread_fields(item, found_at, skipped):
            continue
        for message in _messages(item):
            path = found_at
            if item.get("type") == "extra_forbidden":
                from noether.config.loader.suggest import did_you_mean
                from noether.config.schemas.experiment import ExperimentConfig

                message += did_you_mean(ExperimentConfig, tree, path)
            if not path:
                path, message = _key_in_message(message)
            site = locate(tree, path, fallback)
            if site.note:
                message += f" ({site.note})"
            else:
                message += _overridden_fields(tree, path, item, fallback)
            if site.source:
                message += f" (from {site.source})"
            issues.append(ConfigIssue(site.file, site.line, dotted(path) or "<root>", message))
    return issues
