"""`noether-config validate` given a fragment: the experiments that use it are checked.

A pre-commit hook passes only the changed files; a commit that changes only `_base.yaml` must
still fail when the base is broken, with the error at the base's own line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from noether.config.cli import app

Project = Callable[..., Path]
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def repo(project: Project, valid_yaml: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git checkout (the working directory): experiments that extend and include fragments,
    one in a subfolder that reaches `_base.yaml` through another fragment, one that uses none."""
    root = project(
        **{
            "_base.yaml": valid_yaml,
            "_partials/tracker.yaml": "kind: jsonl\n",
            "_partials/more.yaml": "extends: ../_base.yaml\nseed: 4\n",
            "optim.yaml": "kind: adamw\nlr: 1.0e-3\n",
            "a.yaml": "extends: _base.yaml\nname: a\ntracker: !include _partials/tracker.yaml\n",
            "b.yaml": "extends: _base.yaml\nname: b\nmodel:\n  optimizer: !include optim.yaml\n",
            "sub/c.yaml": "extends: ../_partials/more.yaml\nname: c\n",
            "alone.yaml": valid_yaml.replace("name: demo", "name: alone"),
            "docker-compose.yml": "services:\n  web: {image: nginx}\n",
        }
    )
    module = project.module  # type: ignore[attr-defined]
    shutil.copy(root / f"{module}.py", root / "sub" / f"{module}.py")  # sub/c.yaml's kinds
    (root / ".git").mkdir()
    monkeypatch.chdir(root)
    return root


def test_broken_base_fails_through_its_users_at_the_base_line(repo: Path) -> None:
    text = (repo / "_base.yaml").read_text().replace("max_epochs: 2", "max_epochs: two")
    (repo / "_base.yaml").write_text(text)
    code, output = invoke("validate", "--experiments-only", "_base.yaml")
    assert code == 1, output
    assert "invalid: a.yaml (uses _base.yaml)" in output
    assert "invalid: b.yaml (uses _base.yaml)" in output
    assert f"invalid: {Path('sub', 'c.yaml')} (uses _base.yaml)" in output  # transitively
    assert output.count("_base.yaml:14: trainer.max_epochs: Input should be a valid integer") == 3
    assert "alone.yaml" not in output
    assert "3 file(s) checked: 0 valid, 3 invalid, 1 fragment(s) checked through" in output


def test_each_user_is_reported_once_for_several_changed_fragments(repo: Path) -> None:
    (repo / "_partials" / "tracker.yaml").write_text("kind: jsonl\nbogus: 1\n")
    code, output = invoke(
        "validate", "--experiments-only", "_base.yaml", "_partials/tracker.yaml", "a.yaml"
    )
    assert code == 1, output
    assert output.count("invalid: a.yaml") == 1
    assert "_partials/tracker.yaml:2: tracker.bogus: unknown key" in output
    assert "ok: b.yaml (uses _base.yaml)" in output
    assert "3 file(s) checked: 2 valid, 1 invalid, 2 fragment(s) checked through" in output


def test_included_file_that_is_no_experiment_is_checked_through_its_users(repo: Path) -> None:
    (repo / "optim.yaml").write_text("kind: adamw\nlr: fast\n")
    code, output = invoke("validate", "--experiments-only", "optim.yaml", "docker-compose.yml")
    assert code == 1, output
    assert "invalid: b.yaml (uses optim.yaml)" in output
    assert "optim.yaml:2: model.optimizer.lr: Input should be a valid number" in output
    assert "1 other YAML file(s) skipped (not experiments)" in output  # docker-compose.yml
    assert "a.yaml" not in output


def test_unused_fragment_is_skipped_in_hook_mode_and_json_lists_users(repo: Path) -> None:
    (repo / "_unused.yaml").write_text("seed: 1\n")
    code, output = invoke("validate", "--experiments-only", "_unused.yaml")
    assert code == 0, output
    assert "0 file(s) checked: 0 valid, 0 invalid, 1 fragment(s) skipped" in output
    code, output = invoke("validate", "_partials/tracker.yaml", "--format", "json")
    report = json.loads(output)
    assert code == 0 and report["fragments_checked"] == ["_partials/tracker.yaml"]
    assert [(f["path"], f["uses"]) for f in report["files"]] == [
        ("a.yaml", ["_partials/tracker.yaml"])
    ]


def test_folder_outside_git_is_the_fragments_nearest_plain_folder(repo: Path) -> None:
    shutil.rmtree(repo / ".git")
    text = (repo / "_partials" / "tracker.yaml").read_text() + "bogus: 1\n"
    (repo / "_partials" / "tracker.yaml").write_text(text)
    code, output = invoke("validate", str(repo / "_partials" / "tracker.yaml"))
    assert code == 1, output
    assert f"{Path('_partials', 'tracker.yaml')}:2: tracker.bogus: unknown key" in output
    assert "1 file(s) checked: 0 valid, 1 invalid, 1 fragment(s) checked through" in output


def test_hook_checks_the_experiments_that_extend_a_changed_experiment(repo: Path) -> None:
    (repo / "child.yaml").write_text("extends: alone.yaml\nname: child\ntrainer: {max_epochs: 5}\n")
    (repo / "broken.yaml").write_text("extends: missing.yaml\nname: broken\n")  # reaches nothing
    text = (repo / "alone.yaml").read_text().replace("max_epochs: 2", "max_updates: 10")
    (repo / "alone.yaml").write_text(text)  # the base moves from epochs to updates
    code, output = invoke("validate", "--experiments-only", "alone.yaml")
    assert code == 1, output
    assert "ok: alone.yaml" in output
    assert "invalid: child.yaml (uses alone.yaml)" in output
    assert "child.yaml:3: trainer: set exactly one of max_epochs, max_updates" in output
    assert "broken.yaml" not in output and "a.yaml" not in output
    assert "2 file(s) checked: 1 valid, 1 invalid" in output
    # named outside the hook, an experiment is checked alone, as asked
    code, output = invoke("validate", "alone.yaml")
    assert code == 0, output
    assert "child.yaml" not in output and "1 file(s) checked: 1 valid" in output


def test_a_nested_fragment_outside_git_is_checked_through_the_experiments_of_the_folder(
    repo: Path,
) -> None:
    """`_parts/model/optim/adamw.yaml`: the folders below `_parts` are plain, yet the
    experiments that use it are those of the folder above `_parts`."""
    shutil.rmtree(repo / ".git")
    nested = repo / "_parts" / "model" / "optim"
    nested.mkdir(parents=True)
    (nested / "adamw.yaml").write_text("kind: adamw\nlr: fast\n")
    (repo / "d.yaml").write_text(
        "extends: _base.yaml\nname: d\n"
        "model:\n  optimizer: !include _parts/model/optim/adamw.yaml\n"
    )
    fragment = str(Path("_parts", "model", "optim", "adamw.yaml"))
    code, output = invoke("validate", "--experiments-only", fragment)
    assert code == 1, output
    assert "invalid: d.yaml (uses " in output
    assert f"{fragment}:2: model.optimizer.lr: Input should be a valid number" in output
