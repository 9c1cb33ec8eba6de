"""`noether-config validate --experiments-only`: the pre-commit hook's filter.

Only YAML files whose top level has a `trainer:` or `extends:` key are validated; other YAML
files (CI workflows, compose files, Helm values) are skipped, also when named, and a run that
finds no experiment succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from noether.config.cli import app
from noether.config.cli_paths import is_experiment_file

Project = Callable[..., Path]
runner = CliRunner()

COMPOSE = "services:\n  web:\n    image: nginx\n    extends: {file: common.yml, service: web}\n"
WORKFLOW = "on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: []\n"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def repo(project: Project, valid_yaml: str) -> Path:
    """A repository's YAML files: two experiments (one invalid) and two other tools' files."""
    return project(
        **{
            "good.yaml": valid_yaml,
            "child.yaml": "extends: good.yaml\nname: child\n",
            "bad.yaml": valid_yaml.replace("max_epochs: 2", "max_epoch: 2"),
            "docker-compose.yml": COMPOSE,
            "deploy/values.yaml": WORKFLOW,
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("trainer:\n  kind: x\n", True),
        ("name: a\nextends: [a.yaml, b.yaml]\n", True),
        ("\ufeffextends: base.yaml\n", True),
        ('"trainer": {kind: x}\n', True),
        ('{"name": "a", "model": {"trainer": 1}, "extends": "b.yaml"}\n', True),  # JSON
        ("{name: a,\n trainer: {kind: x}}\n", True),  # flow style over lines
        ("  name: a\n  trainer: {kind: x}\n", True),  # an indented document
        ('{"name": "a", "model": {"trainer": 1}}\n', False),
        ("[trainer, extends]\n", False),
        ("# trainer: commented out\nname: a\n", False),
        ("model:\n  trainer: nested, not top level\n", False),
        ("trainers: 3\nextends_x: 1\n", False),
        ("trainer:x\n", False),  # a plain scalar, not a key
        (COMPOSE, False),
        (WORKFLOW, False),
        ("", False),
    ],
)
def test_experiment_files_are_told_by_a_top_level_trainer_or_extends_key(
    tmp_path: Path, text: str, expected: bool
) -> None:
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    assert is_experiment_file(str(path)) is expected


def test_named_files_that_are_not_experiments_are_skipped(repo: Path) -> None:
    code, output = invoke(
        "validate",
        "--experiments-only",
        str(repo / "good.yaml"),
        str(repo / "docker-compose.yml"),
        str(repo / "deploy" / "values.yaml"),
    )
    assert code == 0, output
    assert f"ok: {repo / 'good.yaml'}" in output
    assert "docker-compose" not in output.replace("2 other", "")
    # child.yaml extends the named good.yaml, so the hook checks it too
    assert f"ok: {repo / 'child.yaml'} (uses {repo / 'good.yaml'})" in output
    assert (
        "2 file(s) checked: 2 valid, 0 invalid, 2 other YAML file(s) skipped (not experiments)"
        in output
    )


def test_invalid_experiments_still_fail(repo: Path) -> None:
    code, output = invoke("validate", "--experiments-only", str(repo))
    assert code == 1
    assert f"{repo / 'bad.yaml'}:14: trainer.max_epoch: unknown key" in output
    assert f"ok: {repo / 'child.yaml'}" in output
    assert "3 file(s) checked: 2 valid, 1 invalid" in output
    assert "2 other YAML file(s) skipped (not experiments)" in output


def test_without_the_option_other_yaml_files_are_validated(repo: Path) -> None:
    code, output = invoke("validate", str(repo / "docker-compose.yml"))
    assert code == 1
    assert "services: unknown key" in output


def test_no_experiment_at_all_is_no_error(repo: Path) -> None:
    code, output = invoke("validate", "--experiments-only", str(repo / "docker-compose.yml"))
    assert code == 0
    assert "0 file(s) checked: 0 valid, 0 invalid, 1 other YAML file(s) skipped" in output
    code, _ = invoke("validate", "--experiments-only", str(repo / "missing.yaml"))
    assert code == 2  # a path that does not exist is still misuse


def test_json_report_lists_the_skipped_files(repo: Path) -> None:
    code, output = invoke("validate", "--experiments-only", "--format", "json", str(repo))
    assert code == 1
    report = json.loads(output)
    assert sorted(report["not_experiments"]) == [
        str(repo / "deploy" / "values.yaml"),
        str(repo / "docker-compose.yml"),
    ]
    assert [Path(entry["path"]).name for entry in report["files"]] == [
        "bad.yaml",
        "child.yaml",
        "good.yaml",
    ]
