"""A boolean where a number belongs is refused at its key: pydantic's lax mode read
`max_epochs: yes` as 1, while editors and the JSON schema refuse it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from noether.config import ConfigError, load_config
from noether.config.bool_numbers import number_without_bool

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
