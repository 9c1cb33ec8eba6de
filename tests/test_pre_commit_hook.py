"""The shipped pre-commit hook, as another repository uses it: `pre-commit try-repo`.

pre-commit clones this repository and `pip install`s it into a fresh virtualenv (setup.py:
noether-config from the clone, no index holding noether); the hook then validates the scratch
repository's experiment files and skips its other YAML files. pydantic, typer and PyYAML
come from the package index (or pip's cache): NOETHER_OFFLINE=1 skips this test, as it does
where git is missing or this is no git checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT = shutil.which("git")
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def _is_git_checkout() -> bool:
    if GIT is None:
        return False
    done = subprocess.run(
        [GIT, "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True
    )
    return done.returncode == 0 and Path(done.stdout.strip()).resolve() == ROOT


pytestmark = [
    pytest.mark.skipif(not _is_git_checkout(), reason="needs git and a git checkout of noether"),
    pytest.mark.skipif(
        os.environ.get("NOETHER_OFFLINE") == "1",
        reason="the hook's virtualenv needs a package index (NOETHER_OFFLINE=1 skips)",
    ),
]

SCHEMAS = '''\
"""Torch-free schemas of the scratch project, next to its configs (found by dotted path)."""

from pydantic import Field

from noether.config import DatasetConfig, ModelConfig


class RodsDatasetConfig(DatasetConfig):
    """Temperatures along heated rods."""

    num_samples: int = Field(default=64, ge=1)
    """Number of rods."""


class RodModelConfig(ModelConfig):
    """A small MLP."""

    width: int = Field(default=32, ge=1)
    """Hidden width."""
'''

GOOD = """\
name: rods
datasets:
  train: {kind: rod_kinds:RodsDatasetConfig, num_samples: 128}
model:
  kind: rod_kinds:RodModelConfig
  optimizer: {kind: adamw, lr: 1.0e-3}
trainer:
  kind: weighted_loss
  max_epochs: 3
  effective_batch_size: 16
  field_weights: {temperature: 1.0}
tracker: {kind: jsonl}
"""

# Neither is an experiment (no top-level trainer: or extends:); both would fail validation.
COMPOSE = "services:\n  trainer:\n    image: acme/train:latest\n    command: [train]\n"
HELM_VALUES = "replicaCount: 2\nimage: {repository: acme/train, tag: latest}\n"


def git(*args: str, cwd: Path) -> None:
    assert GIT is not None
    subprocess.run([GIT, *args], cwd=cwd, check=True, capture_output=True)


def try_repo(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.pop("VIRTUAL_ENV", None)
    env["PRE_COMMIT_HOME"] = str(home)  # a fresh hook environment: the install is tested too
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(ROOT), "noether-config-validate", "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_hook_passes_good_configs_fails_bad_ones_and_ignores_other_yaml(tmp_path: Path) -> None:
    repo = tmp_path / "scratch"
    (repo / "configs").mkdir(parents=True)
    (repo / "deploy").mkdir()
    (repo / "configs" / "rod_kinds.py").write_text(SCHEMAS)
    (repo / "configs" / "rods.yaml").write_text(GOOD)
    (repo / "docker-compose.yml").write_text(COMPOSE)
    (repo / "deploy" / "values.yaml").write_text(HELM_VALUES)
    git("init", "--quiet", cwd=repo)
    git("add", ".", cwd=repo)

    passed = try_repo(repo, tmp_path / "pre-commit-home")
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert "noether-config validate" in output and "Passed" in output

    bad = GOOD.replace("max_epochs: 3", "max_epoch: 3")
    (repo / "configs" / "rods_long.yaml").write_text(bad)
    (repo / "-o.yaml").write_text(bad)  # a name like an option: still a file to check
    git("add", ".", cwd=repo)
    failed = try_repo(repo, tmp_path / "pre-commit-home")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "configs/rods_long.yaml:9: trainer.max_epoch: unknown key" in output
    assert "-o.yaml:9: trainer.max_epoch: unknown key" in output
    assert "ok: configs/rods.yaml" in output
    assert "3 file(s) checked: 1 valid, 2 invalid, 2 other YAML file(s) skipped" in output
    assert "docker-compose.yml" not in output and "values.yaml" not in output


def test_commit_that_changes_only_a_fragment_or_a_base_checks_the_experiments_that_use_it(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "scratch"
    (repo / "configs").mkdir(parents=True)
    (repo / "configs" / "rod_kinds.py").write_text(SCHEMAS)
    (repo / "configs" / "_base.yaml").write_text(GOOD)
    (repo / "configs" / "rods.yaml").write_text("extends: _base.yaml\nname: rods\n")
    (repo / "configs" / "rods_long.yaml").write_text(
        "extends: _base.yaml\nname: rods-long\ntrainer: {max_epochs: 30}\n"
    )
    (repo / "configs" / "other.yaml").write_text(GOOD.replace("name: rods", "name: other"))
    (repo / "configs" / "other_long.yaml").write_text(
        "extends: other.yaml\nname: other-long\ntrainer: {max_epochs: 30}\n"
    )
    (repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    git("init", "--quiet", cwd=repo)
    git("add", ".", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "init", cwd=repo)

    broken = GOOD.replace("max_epochs: 3", "max_epochs: three")
    (repo / "configs" / "_base.yaml").write_text(broken)
    (repo / ".pre-commit-config.yaml").write_text("repos: [] # changed\n")
    git("add", ".", cwd=repo)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.pop("VIRTUAL_ENV", None)
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")

    def run_on_staged_files() -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # no --all-files: the staged files, as `git commit` runs it
            [str(PRE_COMMIT), "try-repo", str(ROOT), "noether-config-validate"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    failed = run_on_staged_files()
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "invalid: configs/rods.yaml (uses configs/_base.yaml)" in output
    assert "ok: configs/rods_long.yaml (uses configs/_base.yaml)" in output  # sets its own
    assert output.count("configs/_base.yaml:9: trainer.max_epochs: Input should be") == 1
    assert "2 file(s) checked: 1 valid, 1 invalid, 1 fragment(s) checked through" in output
    assert "other.yaml" not in output and ".pre-commit-config" not in output.split("Failed")[-1]

    # a complete experiment that another extends moves from epochs to updates: the child,
    # which still sets max_epochs, fails the commit though only the base changed
    git("reset", "--hard", "--quiet", cwd=repo)
    moved = GOOD.replace("name: rods", "name: other").replace("max_epochs: 3", "max_updates: 90")
    (repo / "configs" / "other.yaml").write_text(moved)
    git("add", ".", cwd=repo)
    failed = run_on_staged_files()
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "ok: configs/other.yaml" in output
    assert "invalid: configs/other_long.yaml (uses configs/other.yaml)" in output
    assert "configs/other_long.yaml:3: trainer: set exactly one of max_epochs" in output
    assert "rods" not in output
