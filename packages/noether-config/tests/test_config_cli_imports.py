"""What a config makes `noether-config validate` import: a schema module that prints while it
is imported cannot corrupt the machine-readable report on stdout, and a kind that names a
`__main__` module (importing it runs a program) is refused without importing it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

SCHEMA_MODULE = '''
from typing import ClassVar

from noether.config import ModelConfig

print("loading chatty_schemas")  # a debug print left in a user's schema module


class ChattyModelConfig(ModelConfig):
    """A model."""

    target: ClassVar[str] = "chatty_runtime:Chatty"
'''


def validate(
    folder: Path, noether_config: list[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*noether_config, "validate", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_prints_of_imported_schema_modules_stay_out_of_the_json_report(
    tmp_path: Path, noether_config: list[str]
) -> None:
    (tmp_path / "chatty_schemas.py").write_text(SCHEMA_MODULE)
    (tmp_path / "exp.yaml").write_text(
        "name: x\nmodel: {kind: chatty_schemas:ChattyModelConfig}\n"
        "trainer: {kind: weighted_loss, max_epochs: -1}\n"
    )

    done = validate(tmp_path, noether_config, "exp.yaml", "--format", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert any(issue["key"] == "trainer.max_epochs" for issue in report["files"][0]["issues"])
    assert "loading chatty_schemas" in done.stderr


def test_a_kind_naming_a_main_module_is_refused_unimported(
    tmp_path: Path, noether_config: list[str]
) -> None:
    (tmp_path / "exp.yaml").write_text("name: x\ntrainer: {kind: 'venv.__main__:X'}\n")

    done = validate(tmp_path, noether_config, "exp.yaml")
    assert done.returncode == 1, done.stderr
    assert (
        "exp.yaml:2: trainer.kind: cannot import 'venv.__main__:X': 'venv.__main__' is a "
        "__main__ module: importing it runs a program"
    ) in done.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exp.yaml"]  # no venv made


def test_a_package_at_the_project_root_not_found_says_where_it_looked_and_the_fix(
    tmp_path: Path, noether_config: list[str]
) -> None:
    (tmp_path / "sphere_flow").mkdir()
    (tmp_path / "sphere_flow" / "__init__.py").write_text("")
    (tmp_path / "sphere_flow" / "configs.py").write_text(SCHEMA_MODULE.replace("print", "str"))
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "exp.yaml").write_text(
        "name: x\nmodel: {kind: 'sphere_flow.configs:ChattyModelConfig'}\n"
        "trainer: {kind: weighted_loss, max_epochs: -1}\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    done = validate(tmp_path, noether_config, "configs/exp.yaml", env=env)
    assert done.returncode == 1, done.stderr
    folder, cwd = os.path.realpath(tmp_path / "configs"), os.path.realpath(tmp_path)
    assert (
        "configs/exp.yaml:2: model.kind: cannot import 'sphere_flow.configs:ChattyModelConfig': "
        "No module named 'sphere_flow'; 'sphere_flow' was looked for beside the config (in "
        f"{folder}) and on sys.path, which does not hold the working directory {cwd}: run from "
        "the project root with PYTHONPATH=. set"
    ) in done.stdout

    fixed = validate(tmp_path, noether_config, "configs/exp.yaml", env={**env, "PYTHONPATH": "."})
    assert fixed.returncode == 1 and "model.kind" not in fixed.stdout, fixed.stdout
    assert "trainer.max_epochs" in fixed.stdout

    # PYTHONPATH=. set, from another folder: that folder is on sys.path, so only another helps
    inside = validate(
        tmp_path / "configs", noether_config, "exp.yaml", env={**env, "PYTHONPATH": "."}
    )
    assert (
        f"on sys.path, which holds the working directory {folder}: run from the folder that "
        "holds it, install the package, or put 'sphere_flow' beside the config"
    ) in inside.stdout, inside.stdout


def test_a_module_beside_an_extended_file_and_not_beside_the_config_says_where_it_is(
    tmp_path: Path, noether_config: list[str]
) -> None:
    """Kinds are imported from the folder of the config named, not of its bases: the hint
    said PYTHONPATH=., which did not help, since the module is beside the base."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "base_kinds.py").write_text(SCHEMA_MODULE.replace("print", "str"))
    (tmp_path / "base" / "_base.yaml").write_text(
        "name: x\nmodel: {kind: 'base_kinds:ChattyModelConfig'}\n"
        "trainer: {kind: weighted_loss, max_epochs: -1}\n"
    )
    (tmp_path / "exps").mkdir()
    (tmp_path / "exps" / "exp.yaml").write_text("extends: ../base/_base.yaml\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    done = validate(tmp_path, noether_config, "--root", ".", "exps/exp.yaml", env=env)
    assert done.returncode == 1, done.stderr
    base, own = os.path.realpath(tmp_path / "base"), os.path.realpath(tmp_path / "exps")
    assert (
        "No module named 'base_kinds'; 'base_kinds' is beside a file that this config extends "
        f"or includes (in {base}), but a config's kinds are imported from its own folder ({own}) "
        f"and sys.path: set PYTHONPATH={base}"
    ) in done.stdout, done.stdout

    fixed = validate(
        tmp_path, noether_config, "--root", ".", "exps/exp.yaml", env={**env, "PYTHONPATH": base}
    )
    assert "model.kind" not in fixed.stdout and "trainer.max_epochs" in fixed.stdout
