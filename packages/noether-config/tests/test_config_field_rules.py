"""Rules between fields: pydantic and the JSON Schema written from them give the same verdict."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any, ClassVar

import jsonschema
import pytest

from noether.config import CallbackConfig
from noether.config.field_rules import AtMostOne, ExactlyOne, FieldRule, Forbidden, Requires

FIELDS = ("a", "b", "c")
RULES = [
    ExactlyOne(*FIELDS),
    AtMostOne(*FIELDS),
    AtMostOne("a", "b"),
    Requires("a", "b"),
    Forbidden(*FIELDS, why="runs at fixed points"),
]


def documents() -> list[dict[str, Any]]:
    """Every way to write the fields: absent, null or set."""
    states = [(), (None,), (1,)]
    found = []
    for choice in itertools.product(states, repeat=len(FIELDS)):
        found.append({name: state[0] for name, state in zip(FIELDS, choice, strict=True) if state})
    return found


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: type(rule).__name__)
def test_json_schema_of_a_rule_agrees_with_its_check(rule: FieldRule) -> None:
    validator = jsonschema.Draft202012Validator(rule.json_schema())
    for document in documents():
        model = SimpleNamespace(kind="k", **{name: document.get(name) for name in FIELDS})
        assert (rule.problem(model) is None) == validator.is_valid(document), document


def test_rule_messages_name_the_fields() -> None:
    model = SimpleNamespace(kind="at_end", a=1, b=2, c=None)
    assert ExactlyOne(*FIELDS).problem(model) == "set exactly one of a, b, c (got a, b)"
    assert AtMostOne(*FIELDS).problem(model) == "set at most one of a, b, c (got a, b)"
    assert AtMostOne("a", "b").problem(model) == "set a or b, not both"
    assert Requires("b", "c").problem(model) == "c is required with b"
    assert Forbidden(*FIELDS, why="runs at the end").problem(model) == (
        "kind 'at_end' runs at the end and takes no a"
    )


def test_a_rule_naming_no_field_is_refused_when_the_schema_is_defined() -> None:
    with pytest.raises(TypeError, match="names no field 'every_n_epoch'"):

        class TypoCallbackConfig(CallbackConfig):
            kind: str = "test_rules_typo"

            @classmethod
            def field_rules(cls) -> tuple[FieldRule, ...]:
                return (Requires("every_n_epoch", "batch_size"),)


def test_a_schema_adds_rules_that_validation_and_the_json_schema_apply() -> None:
    class WindowCallbackConfig(CallbackConfig):
        kind: str = "test_rules_window"
        periodic: ClassVar[bool] = True

        start: int | None = None
        """First update."""
        stop: int | None = None
        """Last update."""

        @classmethod
        def field_rules(cls) -> tuple[FieldRule, ...]:
            return (*super().field_rules(), Requires("stop", "start"))

    with pytest.raises(ValueError, match="start is required with stop"):
        WindowCallbackConfig.model_validate({"every_n_epochs": 1, "stop": 3})
    schema = WindowCallbackConfig.model_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"kind": "test_rules_window", "every_n_epochs": 1, "stop": 3})
    assert not validator.is_valid({"kind": "test_rules_window", "start": 1})  # no frequency
    assert validator.is_valid({"kind": "test_rules_window", "every_n_epochs": 1, "start": 1})
