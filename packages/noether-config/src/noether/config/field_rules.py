"""Rules between the fields of one schema, checked by pydantic and written into the JSON Schema.

A schema lists its rules in `RegistryBase.field_rules()`; validation raises the first rule's
message that fails, and `noether-config schema` writes each rule as `oneOf` / `not` / `if`
constructs, so that editors and check-jsonschema catch the same mistakes. A field counts as given
when its key is present and its value is not null (None), as in the schemas' Python code.

Rules that compare values (start_at_epoch <= max_epochs) stay in the schemas' validators: JSON
Schema cannot compare two values.
"""

from __future__ import annotations

import itertools
from typing import Any


def _given_names(model: Any, fields: tuple[str, ...]) -> list[str]:
    return [name for name in fields if getattr(model, name) is not None]


def _given(name: str) -> dict[str, Any]:
    """JSON Schema: the key is present and not null."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _got(names: list[str]) -> str:
    return f" (got {', '.join(names)})" if names else ""


class FieldRuleError(ValueError):
    """A broken rule, as validation raises it; `conflicting` names the given fields of which
    all but one must go (one-of rules), so that an error can say which to unset, and `fields`
    those the rule is about (a value that could not be read breaks it only seemingly)."""

    def __init__(
        self, message: str, conflicting: tuple[str, ...] = (), fields: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.conflicting = conflicting
        self.fields = fields


class FieldRule:
    """A rule over some fields of a schema."""

    fields: tuple[str, ...]

    def problem(self, model: Any) -> str | None:
        """What is wrong with `model` under this rule, or None."""
        raise NotImplementedError

    def conflicting(self, model: Any) -> tuple[str, ...]:
        """The given fields of which all but one must go, when that is the fix."""
        return ()

    def check(self, model: Any) -> None:
        """Raises `FieldRuleError` when `model` breaks this rule."""
        problem = self.problem(model)
        if problem is not None:
            raise FieldRuleError(problem, self.conflicting(model), self.fields)

    def json_schema(self) -> dict[str, Any]:
        """The rule as a JSON Schema that the object must also satisfy."""
        raise NotImplementedError


class _OneOf(FieldRule):
    """A rule that allows one of its fields at most: when broken by several, the fix is to
    unset all of them but one."""

    def __init__(self, *fields: str) -> None:
        self.fields = fields

    def conflicting(self, model: Any) -> tuple[str, ...]:
        return tuple(_given_names(model, self.fields))


class ExactlyOne(_OneOf):
    """Exactly one of the fields is given (a stop criterion, a frequency)."""

    def problem(self, model: Any) -> str | None:
        given = _given_names(model, self.fields)
        if len(given) == 1:
            return None
        return f"set exactly one of {', '.join(self.fields)}{_got(given)}"

    def json_schema(self) -> dict[str, Any]:
        return {"oneOf": [_given(name) for name in self.fields]}


class AtMostOne(_OneOf):
    """At most one of the fields is given (alternative ways to say one thing)."""

    def problem(self, model: Any) -> str | None:
        given = _given_names(model, self.fields)
        if len(given) <= 1:
            return None
        if len(self.fields) == 2:
            return f"set {self.fields[0]} or {self.fields[1]}, not both"
        return f"set at most one of {', '.join(self.fields)}{_got(given)}"

    def json_schema(self) -> dict[str, Any]:
        pairs = itertools.combinations(self.fields, 2)
        return {"not": {"anyOf": [{"allOf": [_given(a), _given(b)]} for a, b in pairs]}}


class Requires(FieldRule):
    """When `field` is given, `needed` must be given too."""

    def __init__(self, field: str, needed: str) -> None:
        self.fields = (field, needed)

    def problem(self, model: Any) -> str | None:
        field, needed = self.fields
        if getattr(model, field) is not None and getattr(model, needed) is None:
            return f"{needed} is required with {field}"
        return None

    def json_schema(self) -> dict[str, Any]:
        field, needed = self.fields
        return {"if": _given(field), "then": _given(needed)}


class Forbidden(FieldRule):
    """None of the fields may be given; `why` says what the kind does instead."""

    def __init__(self, *fields: str, why: str) -> None:
        self.fields = fields
        self.why = why

    def problem(self, model: Any) -> str | None:
        given = _given_names(model, self.fields)
        if not given:
            return None
        return f"kind {model.kind!r} {self.why} and takes no {given[0]}"

    def json_schema(self) -> dict[str, Any]:
        return {"not": {"anyOf": [_given(name) for name in self.fields]}}
