"""Plain numbers that YAML 1.1 (the loader) and YAML 1.2 (editors) read differently are
refused at their line and key, in files and overrides, all in one read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from noether.config import ConfigError, load_config
from noether.config.cli import app

Project = Callable[..., Path]


def issues_of(path: Path, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return [str(issue) for issue in caught.value.issues]


def test_a_leading_zero_and_a_base_60_number_are_refused_at_their_lines(
    project: Project, valid_yaml: str
) -> None:
    text = valid_yaml.replace("width: 8", "width: 010").replace("max_epochs: 2", "max_epochs: 1:30")
    folder = project(**{"exp.yaml": text})
    path = folder / "exp.yaml"
    assert issues_of(path) == [
        f"{path}:7: model.width: 010 is 8 in YAML 1.1 (octal, as the run reads it) but 10 in "
        "YAML 1.2 (editors): write 10 or 8 without the leading zero",
        f"{path}:14: trainer.max_epochs: 1:30 is a base-60 number in YAML 1.1 (as the run "
        "reads it) but text in YAML 1.2 (editors): write the number it stands for, or quote "
        "it ('1:30') for text",
    ]


@pytest.mark.parametrize(
    ("written", "number"),
    [("1_000", "1000"), ("0b11", "3"), ("0_7", "7"), ("2_5.0", "25.0")],
)
def test_underscores_and_binary_numbers_are_refused_with_the_number_to_write(
    project: Project, valid_yaml: str, written: str, number: str
) -> None:
    """YAML 1.1 reads them as numbers, YAML 1.2 (editors) as text."""
    folder = project(**{"exp.yaml": valid_yaml.replace("lr: 1.0e-3", f"lr: {written}")})
    path = folder / "exp.yaml"
    assert issues_of(path) == [
        f"{path}:10: model.optimizer.lr: {written} is {number} in YAML 1.1 (as the run reads it) "
        f"but text in YAML 1.2 (editors): write {number}, or quote it ('{written}') for text"
    ]


@pytest.mark.parametrize("width", ["07", "01", "'010'", "!!int 010", "0x10", "'10_0'"])
def test_numbers_both_versions_read_alike_or_written_explicitly_load(
    project: Project, valid_yaml: str, width: str
) -> None:
    """07 is 7 and 01 is 1 either way, and so is hex; a quoted or tagged value says what it
    is (pydantic reads the text '10_0' as 100, as Python does)."""
    folder = project(**{"exp.yaml": valid_yaml.replace("width: 8", f"width: {width}")})
    expected = {"07": 7, "01": 1, "'010'": 10, "!!int 010": 8, "0x10": 16, "'10_0'": 100}
    assert load_config(folder / "exp.yaml").model.width == expected[width]  # type: ignore[attr-defined]


def test_an_override_with_a_leading_zero_names_the_override(
    project: Project, valid_yaml: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    (issue,) = issues_of(
        folder / "exp.yaml",
        ("trainer.callbacks=[{kind: ema, every_n_epochs: 02, factors: [0.9], batch_size: -010}]",),
    )
    assert "bad override 'trainer.callbacks=" in issue
    assert "value at trainer.callbacks.0.batch_size: -010 is -8 in YAML 1.1" in issue, issue


def test_validate_reports_the_number_with_exit_1(project: Project, valid_yaml: str) -> None:
    folder = project(**{"exp.yaml": valid_yaml.replace("seed: 3", "seed: 0755")})
    result = CliRunner().invoke(app, ["validate", str(folder / "exp.yaml")])
    assert result.exit_code == 1
    assert f"{folder / 'exp.yaml'}:2: seed: 0755 is 493 in YAML 1.1" in result.output


@pytest.mark.parametrize(("written", "read"), [("1e1", 10), ("1.0e+1", 10), ("10.0", 10)])
def test_a_float_only_yaml_1_2_reads_as_a_number_is_a_number_in_files_and_overrides(
    project: Project, valid_yaml: str, written: str, read: int
) -> None:
    """YAML 1.1 reads `1e1` (no dot, no signed exponent) as text: an integer field refused it
    ('unable to parse string as an integer'), where editors read 10."""
    folder = project(**{"exp.yaml": valid_yaml.replace("width: 8", f"width: {written}")})
    assert load_config(folder / "exp.yaml").model.width == read  # type: ignore[attr-defined]
    overridden = load_config(folder / "exp.yaml", (f"trainer.max_epochs={written}",))
    assert overridden.trainer.max_epochs == read
