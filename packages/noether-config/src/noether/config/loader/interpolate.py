"""`${a.b}` references between values of the merged tree.

A string that is exactly one reference takes the referred value with its type (numbers stay
numbers, mappings are copied); a reference inside a longer string is inserted as text.
`$${...}` is a literal `${...}`; a `${` that nothing closes is an error. Only keys of the
config are looked up (no environment variables, nothing outside the tree). What references
build is charged to the config's budget: copied mappings and lists as nodes, inserted text as
characters; chains of references are bounded like nesting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from noether.config.errors import ConfigIssue
from noether.config.loader.limits import Budget, LimitExceeded
from noether.config.loader.nodes import (
    KeyPath,
    LDict,
    LList,
    Loc,
    as_index,
    copy_tree,
    dotted,
    excerpt,
    locate,
)

_REFERENCE = re.compile(r"(\$?)\$\{([^{}]*)\}")
_OPENING = re.compile(r"(?<!\$)\$\{")


class _RefError(Exception):
    pass


def _shown(ref: str) -> str:
    """`${ref}` for a message, cut short (a reference may be written with any length)."""
    return "${" + (ref if len(ref) <= 60 else ref[:60] + "...") + "}"


def _refuse_unclosed(text: str) -> None:
    """A `${` that no reference closes (`"${vars.b"`, `${a.${b}}`) is a typo, not text: it
    would reach the run as written. A reference's body holds no brace, so every `${` that
    one covers is where that reference starts."""
    starts = {match.start() + len(match.group(1)) for match in _REFERENCE.finditer(text)}
    for opening in _OPENING.finditer(text):
        if opening.start() not in starts:
            rest = text[opening.start() + 2 :]
            shown = "${" + (rest if len(rest) <= 60 else rest[:60] + "...")
            raise _RefError(
                f"unclosed reference {shown}: close it with '}}' (write $${{ for a literal ${{)"
            )


def _as_text(value: Any, ref: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        kind = "mapping" if isinstance(value, dict) else "list"
        raise _RefError(f"{_shown(ref)} is a {kind} and cannot be inserted into a string")
    return str(value)


def _measure(node: Any) -> tuple[int, int]:
    """(nodes, nesting) of a tree: mappings, lists and scalars (keys not counted), and how many
    containers deep it goes."""
    count = depth = 0
    todo = [(node, 1)]
    while todo:
        item, level = todo.pop()
        count += 1
        if isinstance(item, dict | list):
            depth = max(depth, level)
            children = item.values() if isinstance(item, dict) else item
            todo.extend((child, level + 1) for child in children)
    return count, depth


class _Interpolator:
    def __init__(self, root: Any, fallback: Loc, budget: Budget) -> None:
        self.root = root
        self.fallback = fallback
        self.budget = budget
        self.active: list[KeyPath] = []
        self.issues: list[ConfigIssue] = []
        self.poisoned: list[KeyPath] = []
        self.resolved: dict[int, Any] = {}
        """Containers without unresolved strings, by id (held, so that ids stay unique): a
        reference to one copies it without walking it again."""
        self.measured: dict[int, tuple[Any, int, int]] = {}
        """(container, nodes, nesting) of each resolved container copied so far, by id."""

    def run(self) -> None:
        self._walk(self.root, (), report=True)

    def _walk(self, node: Any, path: KeyPath, report: bool) -> bool:
        """Resolves every string below `node` in place; True when all of them could be."""
        if id(node) in self.resolved:
            return True
        clean = True
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            here = (*path, key)
            try:
                value = self._resolve_at(node, key, here)
            except (_RefError, RecursionError) as error:
                if not report:
                    raise
                message = (
                    str(error) if isinstance(error, _RefError) else "references nest too deeply"
                )
                site = locate(self.root, here, self.fallback)
                self.issues.append(ConfigIssue(site.file, site.line, dotted(here), message))
                self.poisoned.append(here)
                clean = False
                continue
            if isinstance(value, dict | list):
                clean = self._walk(value, here, report) and clean
        if clean:
            self.resolved[id(node)] = node
        return clean

    def _resolve_at(self, container: Any, key: Any, path: KeyPath) -> Any:
        value = container[key]
        if not (isinstance(value, str) and "${" in value):
            return value
        if path in self.active:
            cycle = [*self.active[self.active.index(path) :], path]
            raise _RefError("reference cycle: " + " -> ".join(dotted(p) for p in cycle))
        if len(self.active) >= self.budget.limits.max_depth:
            limit = self.budget.limits.max_depth
            raise _RefError(f"references chain more than {limit} deep (limit max_depth)")
        self.active.append(path)
        try:
            resolved = self._substitute(value)
        finally:
            self.active.pop()
        container[key] = resolved
        self._note_source(container, key, value)
        return resolved

    def _note_source(self, container: Any, key: Any, text: str) -> None:
        """Records on the key where the value of its whole-value reference is written."""
        whole = _REFERENCE.fullmatch(text.strip())
        if whole is None or whole.group(1) or not isinstance(container, LDict | LList):
            return
        ref = whole.group(2).strip()
        site = locate(self.root, ref.split("."), self.fallback)
        if site.line is None:
            return
        source = f"{_shown(ref)} at {site.file}:{site.line}"
        if isinstance(container, LDict):
            container.locs[key] = replace(container.locs.get(key, container.loc), source=source)
        elif key < len(container.locs):
            container.locs[key] = replace(container.locs[key], source=source)

    def _substitute(self, text: str) -> Any:
        _refuse_unclosed(text)
        whole = _REFERENCE.fullmatch(text.strip())
        if whole and not whole.group(1):
            return self._lookup(whole.group(2).strip())

        length = len(text)
        limit = self.budget.limits.max_string_chars

        def replace(match: re.Match[str]) -> str:
            nonlocal length
            if match.group(1):
                piece = match.group(0)[1:]
            else:
                ref = match.group(2).strip()
                piece = _as_text(self._lookup(ref), ref)
            length += len(piece) - len(match.group(0))
            if length > limit:  # stop before building it
                raise _RefError(
                    f"the interpolated string is longer than {limit:,} characters "
                    "(limit max_string_chars)"
                )
            return piece

        built = _REFERENCE.sub(replace, text)
        self._charge(self.budget.add_string, len(built))
        return built

    def _charge(self, add: Callable[[int], None], amount: int) -> None:
        try:
            add(amount)
        except LimitExceeded as error:
            raise _RefError(str(error)) from None

    def _lookup(self, ref: str) -> Any:
        if not ref or any(not part for part in ref.split(".")):
            raise _RefError(f"invalid reference {_shown(ref)}")
        node = self.root
        path: KeyPath = ()
        for part in ref.split("."):
            if isinstance(node, dict) and part in node:
                key: Any = part
            elif (
                isinstance(node, list)
                and (index := as_index(part)) is not None
                and index < len(node)
            ):
                key = index
            else:
                key_shown = excerpt(part)
                if isinstance(node, list) and as_index(part) is not None:
                    where = f"index {part} is out of range ({dotted(path)} has {len(node)} items)"
                elif path:
                    where = f"no key {key_shown} in {dotted(path)}"
                else:
                    where = f"no top-level key {key_shown}"
                raise _RefError(f"unknown reference {_shown(ref)}: {where}")
            path = (*path, key)
            node = self._resolve_at(node, key, path)
        if isinstance(node, dict | list):
            self.active.append(path)
            try:
                self._walk(node, path, report=False)
            finally:
                self.active.pop()
            return self._copy(node, ref)
        return node

    def _copy(self, node: Any, ref: str) -> Any:
        """A copy of a resolved container for the string being resolved, charged to the budget."""
        if id(node) not in self.measured:
            self.measured[id(node)] = (node, *_measure(node))
        _, count, depth = self.measured[id(node)]
        limit = self.budget.limits.max_depth
        if len(self.active[-1]) + depth - 1 > limit:
            raise _RefError(
                f"{_shown(ref)} would nest the config more than {limit} levels deep "
                "(limit max_depth)"
            )
        self._charge(self.budget.add_nodes, count)
        return copy_tree(node)


def interpolate(
    root: Any, fallback: Loc, budget: Budget
) -> tuple[list[ConfigIssue], list[KeyPath]]:
    """Resolves all references in place; returns issues and the key paths that failed."""
    if not isinstance(root, dict | list):
        return [], []
    interpolator = _Interpolator(root, fallback, budget)
    interpolator.run()
    return interpolator.issues, interpolator.poisoned
