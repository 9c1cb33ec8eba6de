"""Counts YAML nodes while a document is composed, before anything is built from it.

An alias is charged the size of what it repeats, so nine levels of nine aliases (and `<<`
merges of aliases) reach the node limit after a few hundred events instead of building 9^9
nodes; nesting is bounded the same way. The composer is PyYAML's (pure Python) on either event
source, libyaml's or PyYAML's own parser, so both count alike.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer

from noether.config.loader.limits import Budget
from noether.config.loader.nodes import KeyPath
from noether.config.loader.yaml_numbers import differing_number, with_yaml12_floats

MAX_NUMBER_CHARS = 100
"""Longer integers stay text: `int()` of thousands of digits is refused by Python, and base-60
integers (`1:2:3`) cost quadratic time in their length."""


class YamlRefusedError(Exception):
    """A document the loader refuses, with where: beyond a limit of its budget, or a number
    that YAML 1.1 and 1.2 read differently (`yaml_numbers`)."""

    def __init__(self, message: str, line: int, path: KeyPath) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path


class ExpansionGuard(Composer):
    """Composer mixin that charges each node to a `Budget` and bounds nesting (call `guard`);
    it also refuses a plain number that YAML 1.1 and 1.2 read differently, since the path to
    name in the error is known only while composing."""

    budget: Budget
    _steps: list[Any]
    """Index of each node being composed, outermost first: None (the root, a mapping key),
    a list index, or the key's node (a mapping value)."""
    _max_steps: int
    _sizes: dict[yaml.Node, int]
    """Expanded size of each anchored node, charged again by each alias of it."""
    differing_numbers: list[YamlRefusedError]
    """Plain numbers that YAML 1.1 and 1.2 read differently, each with where: not fatal to
    the parse, so that one read reports them all."""
    yaml_implicit_resolvers = with_yaml12_floats(yaml.resolver.Resolver.yaml_implicit_resolvers)
    """PyYAML's, reading YAML 1.2's floats too (`yaml_numbers`), in every loader of configs."""

    def guard(self, budget: Budget, base_depth: int) -> None:
        """Charges this document to `budget`; it starts `base_depth` levels deep (an include)."""
        self.budget = budget
        self._steps = []
        self._max_steps = budget.limits.max_depth + 1 - base_depth
        self._sizes = {}
        self.differing_numbers = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]  # from the parser it is mixed with
        steps = self._steps
        steps.append(index)
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(node, 1) if node is not None else 1
            self._charge(size, event, f"alias *{event.anchor}: ")
        else:
            if len(steps) > self._max_steps and not isinstance(event, yaml.ScalarEvent):
                raise self._error(
                    f"nested more than {self.budget.limits.max_depth} levels deep "
                    "(limit max_depth)",
                    event,
                )
            if isinstance(event, yaml.ScalarEvent):
                self._check_number(event)
            start = self.budget.nodes
            self._charge(1, event, "")
            node = super().compose_node(parent, index)
            if event.anchor is not None and node is not None:
                self._sizes[node] = self.budget.nodes - start
        steps.pop()  # not on errors: they end the parse, and need the path
        return node

    def _check_number(self, event: yaml.ScalarEvent) -> None:
        value = event.value
        if event.tag is not None or not event.implicit[0] or len(value) > MAX_NUMBER_CHARS:
            return  # tagged, quoted, or text for its length (see construct_bounded_int)
        tag = self.resolve(yaml.ScalarNode, value, event.implicit)  # type: ignore[attr-defined]
        problem = differing_number(value, tag)
        if problem is not None:
            self.differing_numbers.append(self._error(problem, event))

    def _charge(self, count: int, event: yaml.Event, prefix: str) -> None:
        budget = self.budget
        budget.nodes += count
        if budget.nodes > budget.limits.max_nodes:
            raise self._error(prefix + budget.too_many_nodes(), event)

    def _error(self, message: str, event: yaml.Event) -> YamlRefusedError:
        path: list[Any] = []
        for step in self._steps[1:]:  # the first is the document's root
            if isinstance(step, yaml.ScalarNode):
                path.append(step.value)
            elif isinstance(step, int):
                path.append(step)
            else:
                path.append("<key>")
        line = int(event.start_mark.line) + 1 if event.start_mark is not None else 1
        return YamlRefusedError(message, line, tuple(path))


def construct_bounded_int(loader: Any, node: yaml.ScalarNode) -> int | str:
    """An integer, or the text as written when it is longer than MAX_NUMBER_CHARS (validation
    then reports it where it is, like any other string where a number belongs)."""
    if len(str(node.value)) > MAX_NUMBER_CHARS:
        return str(node.value)
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
