"""Reads a config file with its `extends:` bases and `!include` values into one located tree.

Included and extended files must lie inside the root (`confine`); every file read and every
node parsed is charged to the config's budget (`limits`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

from noether.config.errors import ConfigIssue
from noether.config.loader.confine import IncludeRefused, confine
from noether.config.loader.limits import Budget, LimitExceeded
from noether.config.loader.nodes import (
    KeyPath,
    LDict,
    Loc,
    deep_merge,
    dotted,
    excerpt,
    join_key,
)
from noether.config.loader.yaml_io import Include, YamlLoadError, parse_yaml
from noether.config.text_encoding import yaml_encoding

EXTENDS_KEY = "extends"


@dataclass
class Composition:
    """A merged tree plus every issue met while reading it."""

    tree: Any
    issues: list[ConfigIssue] = field(default_factory=list)
    poisoned: list[KeyPath] = field(default_factory=list)
    """Key paths whose content could not be read; validation errors below them are noise."""
    files: set[str] = field(default_factory=set)
    """Real paths of every file the config reaches (itself, its bases and includes), read or
    not: which experiments use a fragment (`noether.config.cli_fragments`)."""


class _Composer:
    def __init__(self, root: str, budget: Budget) -> None:
        self.root = root
        self.budget = budget
        self.result = Composition(tree=None)

    def fail(self, loc: Loc, at: KeyPath, message: str, key: KeyPath | None = None) -> None:
        """An issue at `key` (default `at`); what lies below `at` goes unvalidated."""
        shown = dotted(at if key is None else key) or "<root>"
        self.result.issues.append(ConfigIssue(loc.file, loc.line, shown, message))
        self.result.poisoned.append(at)

    def load(
        self,
        path: str,
        real: str,
        chain: tuple[str, ...],
        site: Loc | None,
        at: KeyPath,
        key: KeyPath | None = None,
    ) -> Any:
        """Reads `path` (real path `real`) into a tree; `site` is where it was named (None for
        the top file), at `key` (default `at`: an `extends` names its file at `extends`)."""
        where = site or Loc(path, None)
        self.result.files.add(real)
        if real in chain:
            names = [os.path.basename(p) for p in (*chain[chain.index(real) :], real)]
            self.fail(where, at, "cycle of extends / !include: " + " -> ".join(names), key)
            return None
        if len(chain) > self.budget.limits.max_depth:
            limit = self.budget.limits.max_depth
            message = f"includes and extends nest more than {limit} files deep (limit max_depth)"
            self.fail(where, at, message, key)
            return None
        what = "config file" if site is None else "file"
        text = self.read(path, real, where, at, what, key)
        if text is None:
            return None
        try:
            tree, issues = parse_yaml(text, path, self.budget, len(at))
        except YamlLoadError as error:
            issue = error.issue
            shown = join_key(at, issue.key)
            self.result.issues.append(ConfigIssue(issue.file, issue.line, shown, issue.message))
            self.result.poisoned.append(at)
            return None
        for issue in issues:
            shown = join_key(at, issue.key)
            self.result.issues.append(ConfigIssue(issue.file, issue.line, shown, issue.message))
        chain = (*chain, real)
        tree = self.resolve_includes(tree, path, chain, at)
        if isinstance(tree, LDict) and EXTENDS_KEY in tree:
            tree = self.apply_extends(tree, path, chain, at)
        return tree

    def read(
        self, path: str, real: str, where: Loc, at: KeyPath, what: str, key: KeyPath | None
    ) -> str | None:
        """The text of a file, charged to the budget before it is opened; None on failure."""
        cannot = f"cannot read {what} {excerpt(path, 200)}"
        try:
            status = os.stat(real)
            if not stat.S_ISREG(status.st_mode):
                self.fail(where, at, f"{cannot}: not a regular file", key)
                return None
            self.budget.add_file(status.st_size)
            with open(real, "rb") as handle:
                data = handle.read(status.st_size)
            codec = yaml_encoding(data[:4])
            return data.decode(codec)
        except LimitExceeded as error:
            self.fail(where, at, f"{cannot}: {error}", key)
        except UnicodeDecodeError as error:  # at the bad byte's line of the file that holds it
            line = data.count(b"\n", 0, error.start) + 1
            column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
            byte = f"byte 0x{data[error.start]:02x} at column {column}"
            text = f"not {error.encoding.upper()} text"
            self.fail(Loc(path, line), at, f"{cannot}: {text}: {byte} ({error.reason})", key)
        except OSError as error:
            reason = getattr(error, "strerror", None) or str(error)
            self.fail(where, at, f"{cannot}: {reason}", key)
        return None

    def load_named(
        self, name: str, including: str, chain: tuple[str, ...], site: Loc, at: KeyPath, what: str
    ) -> Any:
        """Loads the file that `what` (`!include` / `extends`) `name` names, if it is allowed."""
        key = (*at, EXTENDS_KEY) if what == EXTENDS_KEY else at
        try:
            real = confine(name, including, self.root, what)
        except IncludeRefused as error:
            self.fail(site, at, str(error), key)
            return None
        return self.load(_relative_to(including, name), real, chain, site, at, key)

    def resolve_includes(self, node: Any, path: str, chain: tuple[str, ...], at: KeyPath) -> Any:
        if isinstance(node, Include):
            if not node.path:
                self.fail(node.loc, at, "!include takes a file path")
                return None
            return self.load_named(node.path, path, chain, node.loc, at, "!include")
        if isinstance(node, dict):
            for key in list(node):
                node[key] = self.resolve_includes(node[key], path, chain, (*at, key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                node[index] = self.resolve_includes(item, path, chain, (*at, index))
        return node

    def apply_extends(self, tree: LDict, path: str, chain: tuple[str, ...], at: KeyPath) -> Any:
        value = tree.pop(EXTENDS_KEY)
        site = tree.locs.pop(EXTENDS_KEY, tree.loc)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            message = "extends takes a file path or a list of paths"
            self.fail(site, at, message, (*at, EXTENDS_KEY))  # the bases' keys are missing
            return tree
        merged: Any = LDict(loc=tree.loc)
        for name in names:
            base = self.load_named(name, path, chain, site, at, EXTENDS_KEY)
            if base is None:
                continue
            if not isinstance(base, dict):
                message = f"extended file {excerpt(name)} is not a mapping"
                self.fail(site, at, message, (*at, EXTENDS_KEY))
                continue
            merged = deep_merge(merged, base)
        return deep_merge(merged, tree)


def _relative_to(including_file: str, name: str) -> str:
    if os.path.isabs(name):
        return name
    return os.path.normpath(os.path.join(os.path.dirname(including_file), name))


def compose(path: str, root: str, budget: Budget) -> Composition:
    """Reads the file at `path`, resolving `extends:` and `!include` relative to each file and
    only inside `root` (a real path)."""
    composer = _Composer(root, budget)
    composer.result.tree = composer.load(path, os.path.realpath(path), (), None, ())
    return composer.result
