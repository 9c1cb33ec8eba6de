"""`${a.b}` references between values of the merged tree.

A string that is exactly one reference takes the referred value with its type (numbers stay
numbers, mappings are copied); a reference inside a longer string is inserted as text.
`$${...}` is a literal `${...}`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from noether.config.errors import ConfigIssue
from noether.config.loader.nodes import KeyPath, Loc, dotted, locate

_REFERENCE = re.compile(r"(\$?)\$\{([^{}]*)\}")


class _RefError(Exception):
    pass


def _as_text(value: Any, ref: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        kind = "mapping" if isinstance(value, dict) else "list"
        raise _RefError(f"${{{ref}}} is a {kind} and cannot be inserted into a string")
    return str(value)


class _Interpolator:
    def __init__(self, root: Any, fallback: Loc) -> None:
        self.root = root
        self.fallback = fallback
        self.active: list[KeyPath] = []
        self.issues: list[ConfigIssue] = []
        self.poisoned: list[KeyPath] = []

    def run(self) -> None:
        self._walk(self.root, (), report=True)

    def _walk(self, node: Any, path: KeyPath, report: bool) -> None:
        """Resolves every string below `node` in place."""
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            here = (*path, key)
            try:
                value = self._resolve_at(node, key, here)
            except _RefError as error:
                if not report:
                    raise
                site = locate(self.root, here, self.fallback)
                self.issues.append(ConfigIssue(site.file, site.line, dotted(here), str(error)))
                self.poisoned.append(here)
                continue
            if isinstance(value, dict | list):
                self._walk(value, here, report)

    def _resolve_at(self, container: Any, key: Any, path: KeyPath) -> Any:
        value = container[key]
        if not (isinstance(value, str) and "${" in value):
            return value
        if path in self.active:
            cycle = [*self.active[self.active.index(path) :], path]
            raise _RefError("reference cycle: " + " -> ".join(dotted(p) for p in cycle))
        self.active.append(path)
        try:
            resolved = self._substitute(value)
        finally:
            self.active.pop()
        container[key] = resolved
        return resolved

    def _substitute(self, text: str) -> Any:
        whole = _REFERENCE.fullmatch(text.strip())
        if whole and not whole.group(1):
            return self._lookup(whole.group(2).strip())

        def replace(match: re.Match[str]) -> str:
            if match.group(1):
                return match.group(0)[1:]
            ref = match.group(2).strip()
            return _as_text(self._lookup(ref), ref)

        return _REFERENCE.sub(replace, text)

    def _lookup(self, ref: str) -> Any:
        if not ref or any(not part for part in ref.split(".")):
            raise _RefError(f"invalid reference ${{{ref}}}")
        node = self.root
        path: KeyPath = ()
        for part in ref.split("."):
            if isinstance(node, dict) and part in node:
                key: Any = part
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                key = int(part)
            else:
                where = (
                    f"no key {part!r} in {dotted(path)}" if path else f"no top-level key {part!r}"
                )
                raise _RefError(f"unknown reference ${{{ref}}}: {where}")
            path = (*path, key)
            node = self._resolve_at(node, key, path)
        if isinstance(node, dict | list):
            self.active.append(path)
            try:
                self._walk(node, path, report=False)
            finally:
                self.active.pop()
            return copy.deepcopy(node)
        return node


def interpolate(root: Any, fallback: Loc) -> tuple[list[ConfigIssue], list[KeyPath]]:
    """Resolves all references in place; returns issues and the key paths that failed."""
    if not isinstance(root, dict | list):
        return [], []
    interpolator = _Interpolator(root, fallback)
    interpolator.run()
    return interpolator.issues, interpolator.poisoned
