"""A boolean where a number belongs is refused at its key: pydantic's lax mode read
`max_epochs: yes` as 1, while editors and the JSON schema refuse it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from noether.config import ConfigError, load_config
from noether.config.bool_numbers import misplaced_bool, number_without_bool

Project = Callable[..., Path]
REFUSED = "a boolean (true) where a number belongs (YAML reads yes/no and on/off as booleans)"


def test_booleans_in_int_and_float_fields_are_refused_at_their_lines(
    project: Project, valid_yaml: str
) -> None:
    text = (
        valid_yaml.replace("seed: 3", "seed: yes")
        .replace("lr: 1.0e-3", "lr: on")
        .replace("max_epochs: 2", "max_epochs: true")
    )
    folder = project(**{"exp.yaml": text})
    with pytest.raises(ConfigError) as caught:
        load_config(folder / "exp.yaml")
    found = {issue.key: (issue.line, issue.message) for issue in caught.value.issues}
    assert found["seed"] == (2, REFUSED)
    assert found["model.optimizer.lr"] == (10, REFUSED)
    assert found["trainer.max_epochs"] == (14, REFUSED)


def test_an_optional_int_of_a_callback_refuses_a_boolean_and_a_bool_field_takes_yes(
    project: Project, valid_yaml: str
) -> None:
    callbacks = "  callbacks: [{kind: checkpoint, every_n_epochs: 1, save_optim: yes}]\n"
    text = valid_yaml.replace("tracker: {kind: jsonl}\n", callbacks + "tracker: {kind: jsonl}\n")
    folder = project(**{"exp.yaml": text})
    config = load_config(folder / "exp.yaml")
    assert config.trainer.callbacks[0].save_optim is True  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as caught:
        load_config(folder / "exp.yaml", ("trainer.callbacks.0.every_n_epochs=on",))
    (issue,) = caught.value.issues
    assert issue.key == "trainer.callbacks.0.every_n_epochs"
    assert issue.message.startswith(REFUSED)


def test_booleans_among_numbers_of_a_mapping_or_a_list_are_refused_at_their_own_key(
    project: Project, valid_yaml: str
) -> None:
    """`field_weights: {p: yes}` was a weight of 1.0 (a bool-for-number check of the field's
    own type let containers through); the line is the entry's own in a block mapping."""
    weights = "  field_weights:\n    pressure: 1.0\n    u: yes\n"
    text = valid_yaml.replace("  field_weights: {pressure: 1.0}\n", weights).replace(
        "lr: 1.0e-3", "lr: 1.0e-3\n    lr_scale: {head: off}"
    )
    folder = project(**{"exp.yaml": text})
    with pytest.raises(ConfigError) as caught:
        load_config(folder / "exp.yaml")
    found = {issue.key: (issue.line, issue.message) for issue in caught.value.issues}
    lines = text.splitlines()
    assert found["trainer.field_weights.u"] == (lines.index("    u: yes") + 1, REFUSED)
    assert found["model.optimizer.lr_scale.head"][1] == REFUSED.replace("true", "false")


@pytest.mark.parametrize(
    ("annotation", "value", "where"),
    [
        (dict[str, float], {"a": 1.0, "b": True}, ("b",)),
        (dict[str, float] | None, {"a": False}, ("a",)),
        (list[float], [0.1, True], (1,)),
        (tuple[int, ...], (1, 2, True), (2,)),
        (tuple[str, int], ("x", True), (1,)),
        (tuple[bool, int], (True, 1), None),
        (list[list[int]], [[1], [2, False]], (1, 1)),
        (dict[str, bool], {"a": True}, None),
        (list[float | bool], [True], None),
        (list[Any], [True], None),
        (float, True, ()),
        (float, 1.0, None),
    ],
)
def test_where_a_boolean_stands_for_a_number(annotation: Any, value: Any, where: Any) -> None:
    assert misplaced_bool(annotation, value) == where


@pytest.mark.parametrize(
    ("annotation", "refused"),
    [
        (int, True),
        (float, True),
        (int | None, True),
        (float | int, True),
        (bool, False),
        (int | bool, False),
        (str, False),
        (Any, False),
        (list[int], False),
    ],
)
def test_which_field_types_refuse_a_boolean(annotation: Any, refused: bool) -> None:
    assert number_without_bool(annotation) is refused
