"""Reads a config file with its `extends:` bases and `!include` values into one located tree."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from noether.config.errors import ConfigIssue
from noether.config.loader.nodes import KeyPath, LDict, Loc, deep_merge, dotted, join_key
from noether.config.loader.yaml_io import Include, YamlSyntaxError, parse_yaml

EXTENDS_KEY = "extends"


@dataclass
class Composition:
    """A merged tree plus every issue met while reading it."""

    tree: Any
    issues: list[ConfigIssue] = field(default_factory=list)
    poisoned: list[KeyPath] = field(default_factory=list)
    """Key paths whose content could not be read; validation errors below them are noise."""


class _Composer:
    def __init__(self) -> None:
        self.result = Composition(tree=None)

    def fail(self, loc: Loc, at: KeyPath, message: str) -> None:
        self.result.issues.append(ConfigIssue(loc.file, loc.line, dotted(at) or "<root>", message))
        self.result.poisoned.append(at)

    def load(self, path: str, chain: tuple[str, ...], site: Loc | None, at: KeyPath) -> Any:
        """Reads `path` into a tree; `site` is where it was named (None for the top file)."""
        real = os.path.realpath(path)
        where = site or Loc(path, None)
        if real in chain:
            names = [os.path.basename(p) for p in (*chain[chain.index(real) :], real)]
            self.fail(where, at, "include cycle: " + " -> ".join(names))
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            what = "config file" if site is None else "file"
            reason = getattr(error, "strerror", None) or str(error)
            self.fail(where, at, f"cannot read {what} {path!r}: {reason}")
            return None
        try:
            tree, issues = parse_yaml(text, path)
        except YamlSyntaxError as error:
            issue = error.issue
            key = join_key(at, issue.key)
            self.result.issues.append(ConfigIssue(issue.file, issue.line, key, issue.message))
            self.result.poisoned.append(at)
            return None
        for issue in issues:
            key = join_key(at, issue.key)
            self.result.issues.append(ConfigIssue(issue.file, issue.line, key, issue.message))
        chain = (*chain, real)
        tree = self.resolve_includes(tree, path, chain, at)
        if isinstance(tree, LDict) and EXTENDS_KEY in tree:
            tree = self.apply_extends(tree, path, chain, at)
        return tree

    def resolve_includes(self, node: Any, path: str, chain: tuple[str, ...], at: KeyPath) -> Any:
        if isinstance(node, Include):
            return self.load(_relative_to(path, node.path), chain, node.loc, at)
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
            self.fail(site, (*at, EXTENDS_KEY), "extends takes a file path or a list of paths")
            return tree
        merged: Any = LDict(loc=tree.loc)
        for name in names:
            base = self.load(_relative_to(path, name), chain, site, at)
            if base is None:
                continue
            if not isinstance(base, dict):
                self.fail(site, at, f"extended file {name!r} is not a mapping")
                continue
            merged = deep_merge(merged, base)
        return deep_merge(merged, tree)


def _relative_to(including_file: str, name: str) -> str:
    if os.path.isabs(name):
        return name
    return os.path.normpath(os.path.join(os.path.dirname(including_file), name))


def compose(path: str) -> Composition:
    """Reads the file at `path`, resolving `extends:` and `!include` relative to each file."""
    composer = _Composer()
    composer.result.tree = composer.load(path, (), None, ())
    return composer.result
