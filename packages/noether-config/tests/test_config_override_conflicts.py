"""An override that clashes with a value of the file under a one-of rule says how to unset it.

`trainer.max_updates=100` on a file with `max_epochs` broke "exactly one stop criterion" with
no hint that `trainer.max_epochs=null` unsets the file's value (there is no other way to
delete a key from the command line).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from noether.config.cli import app

Project = Callable[..., Path]
runner = CliRunner()


def validate(project: Project, text: str, *overrides: str) -> tuple[int, str]:
    folder = project(**{"run.yaml": text})
    result = runner.invoke(app, ["validate", str(folder / "run.yaml"), *overrides])
    return result.exit_code, result.output


def test_an_override_against_the_files_stop_criterion_says_how_to_unset_it(
    project: Project, valid_yaml: str
) -> None:
    code, output = validate(project, valid_yaml, "trainer.max_updates=100")
    assert code == 1, output
    assert (
        "trainer: set exactly one of max_epochs, max_updates, max_samples (got max_epochs, "
        "max_updates) (trainer.max_updates set by override 'trainer.max_updates=100'; add "
        "trainer.max_epochs=null to unset the other)"
    ) in output


def test_an_override_against_one_of_two_fields_says_how_to_unset_it(
    project: Project, valid_yaml: str
) -> None:
    code, output = validate(project, valid_yaml, "model.optimizer.schedule.warmup_updates=5")
    assert code == 1, output
    assert "add model.optimizer.schedule.warmup_percent=null to unset the other)" in output


def test_the_hinted_null_override_makes_the_config_valid(project: Project, valid_yaml: str) -> None:
    code, output = validate(
        project, valid_yaml, "trainer.max_updates=100", "trainer.max_epochs=null"
    )
    assert code == 0, output


def test_a_clash_within_the_file_or_within_the_overrides_gets_no_unset_hint(
    project: Project, valid_yaml: str
) -> None:
    in_file = valid_yaml.replace("  max_epochs: 2\n", "  max_epochs: 2\n  max_updates: 9\n")
    code, output = validate(project, in_file)
    assert code == 1, output
    assert "(got max_epochs, max_updates)" in output
    assert "to unset" not in output
    code, output = validate(
        project, valid_yaml, "trainer.log_every_n_updates=5", "trainer.log_every_n_epochs=1"
    )
    assert code == 1, output
    assert "set at most one of log_every_n_epochs" in output
    assert "to unset" not in output
