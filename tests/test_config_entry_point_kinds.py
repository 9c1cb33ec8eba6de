"""Kinds from other distributions: an entry-point trainer kind, a dotted-path kind, duplicates.

The throw-away distributions are real `*.dist-info` folders (METADATA + entry_points.txt) in
a folder on PYTHONPATH of a `noether-config` subprocess, as an installer would lay them out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

NOETHER_CONFIG = Path(sys.executable).parent / "noether-config"

ACME_SCHEMAS = '''
from typing import ClassVar

from pydantic import Field

from noether.config import BaseTrainerConfig, CallbackConfig, DatasetConfig, ModelConfig


class AcmeTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Acme's trainer: a weighted loss with a smoothness penalty."""

    kind: str = "acme_trainer"
    target: ClassVar[str] = "acme_kinds.trainer:AcmeTrainer"

    smoothness: float = Field(default=0.1, ge=0)
    """Weight of the smoothness penalty."""


class AcmeDataConfig(DatasetConfig):
    """Acme's data."""

    size: int = 4
    """Samples."""


class AcmeModelConfig(ModelConfig):
    """Acme's model."""

    width: int = 8
    """Width."""
'''

CONFIG = """\
name: acme
datasets:
  train: {kind: acme_kinds.schemas:AcmeDataConfig}
model: {kind: acme_kinds.schemas:AcmeModelConfig, optimizer: {kind: sgd, lr: 0.1}}
trainer:
  kind: %s
  max_updates: 10
  effective_batch_size: 4
  smoothness: 0.5
"""


def add_distribution(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n\n")
    (info / "entry_points.txt").write_text(entry_points)


def make_site(
    tmp_path: Path,
    entry_points: str = "[noether.trainers]\nacme_trainer = acme_kinds.schemas:AcmeTrainerConfig\n",
) -> Path:
    site = tmp_path / "site"
    package = site / "acme_kinds"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "schemas.py").write_text(ACME_SCHEMAS)
    add_distribution(site, "acme-kinds", entry_points)
    return site


def run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [str(NOETHER_CONFIG), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_entry_point_kind_and_dotted_kind_validate(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    (tmp_path / "short.yaml").write_text(CONFIG % "acme_trainer")
    (tmp_path / "dotted.yaml").write_text(CONFIG % "acme_kinds.schemas:AcmeTrainerConfig")
    (tmp_path / "dotted2.yaml").write_text(CONFIG % "acme_kinds.schemas.AcmeTrainerConfig")
    done = run(site, tmp_path, "validate", "short.yaml", "dotted.yaml", "dotted2.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 file(s) checked: 3 valid, 0 invalid" in done.stdout
    bad = run(site, tmp_path, "validate", "short.yaml", "-o", "trainer.smoothness=-1")
    assert bad.returncode == 1
    assert "short.yaml:9: trainer.smoothness: Input should be greater than or equal to 0" in (
        bad.stdout
    )


def test_kinds_lists_the_plugin_without_importing_its_runtime(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    done = run(site, tmp_path, "kinds", "trainers", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["kind"]: row for row in json.loads(done.stdout)}
    acme = rows["acme_trainer"]
    assert acme["distribution"] == "acme-kinds"
    assert acme["target"] == "acme_kinds.trainer:AcmeTrainer"
    assert acme["installed"] is False  # acme_kinds/trainer.py does not exist
    assert rows["weighted_loss"]["distribution"] == "noether-config"


def test_same_short_name_from_two_distributions_fails_naming_both(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    add_distribution(
        site,
        "acme-clone",
        "[noether.trainers]\nacme_trainer = acme_clone.schemas:CloneTrainerConfig\n",
    )
    (tmp_path / "short.yaml").write_text(CONFIG % "acme_trainer")
    done = run(site, tmp_path, "validate", "short.yaml")
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("short.yaml:6:")]
    assert "trainer.kind: kind 'acme_trainer'" in line
    assert "acme-kinds (acme_kinds.schemas:AcmeTrainerConfig)" in line
    assert "acme-clone (acme_clone.schemas:CloneTrainerConfig)" in line
    # the clash does not hide the other trainer kinds
    (tmp_path / "other.yaml").write_text(
        (CONFIG % "weighted_loss").replace("  smoothness: 0.5\n", "  field_weights: {p: 1}\n")
    )
    assert run(site, tmp_path, "validate", "other.yaml").returncode == 0
    listing = run(site, tmp_path, "kinds", "trainers")
    assert listing.returncode == 1  # listed, and told: a CI step that lists kinds fails
    assert listing.stdout.count("duplicate short name") == 2
    assert "2 kind(s) cannot be used" in listing.stderr
    assert "acme_trainer (noether.trainers)" in listing.stderr
    # the editor's schema is written, with a warning that says which kind it cannot offer
    schema = run(site, tmp_path, "schema", "trainers")
    assert schema.returncode == 0
    kinds = json.loads(schema.stdout)["$defs"]["BaseTrainerConfigKinds"]["properties"]["kind"]
    assert kinds["anyOf"][0]["enum"] == ["weighted_loss"]
    assert "warning: 2 kind(s) cannot be used" in schema.stderr


def test_an_entry_point_with_an_extras_marker_resolves(tmp_path: Path) -> None:
    site = make_site(
        tmp_path, "[noether.trainers]\nacme_trainer = acme_kinds.schemas:AcmeTrainerConfig [fast]\n"
    )
    (tmp_path / "short.yaml").write_text(CONFIG % "acme_trainer")
    done = run(site, tmp_path, "validate", "short.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    listing = run(site, tmp_path, "kinds", "trainers", "--json")
    rows = {row["kind"]: row for row in json.loads(listing.stdout)}
    assert rows["acme_trainer"]["schema"] == "acme_kinds.schemas:AcmeTrainerConfig"
    assert rows["acme_trainer"]["distribution"] == "acme-kinds"
    assert "error" not in rows["acme_trainer"]


MISPLACED = '''
from noether.config import CallbackConfig, ModelConfig


class MisplacedCallbackConfig(CallbackConfig):
    """A callback's schema, published under noether.models by mistake."""


class TargetlessModelConfig(ModelConfig):
    """A model's schema without its runtime class."""


def model_factory():
    """A function, not a schema."""
'''


def test_a_published_object_that_is_no_schema_of_its_group_is_named(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        "[noether.models]\n"
        "misplaced = acme_kinds.misplaced:MisplacedCallbackConfig\n"
        "factory = acme_kinds.misplaced:model_factory\n"
        "targetless = acme_kinds.misplaced:TargetlessModelConfig\n",
    )
    (site / "acme_kinds" / "misplaced.py").write_text(MISPLACED)
    (tmp_path / "exp.yaml").write_text(
        (CONFIG % "weighted_loss").replace("  smoothness: 0.5\n", "  field_weights: {p: 1}\n")
    )
    done = run(site, tmp_path, "validate", "exp.yaml", "-o", "model={kind: misplaced}")
    assert done.returncode == 1
    assert (
        "exp.yaml:4: model.kind: kind 'misplaced' of acme-kinds "
        "(acme_kinds.misplaced:MisplacedCallbackConfig) is a CallbackConfig subclass, not a "
        "ModelConfig subclass: publish it under the entry-point group 'noether.callbacks'"
    ) in done.stdout, done.stdout
    done = run(site, tmp_path, "validate", "exp.yaml", "-o", "model={kind: factory}")
    assert (
        "kind 'factory' of acme-kinds (acme_kinds.misplaced:model_factory) is a function, "
        "not a ModelConfig subclass"
    ) in done.stdout, done.stdout
    assert run(site, tmp_path, "validate", "exp.yaml").returncode == 0  # other kinds: fine
    listing = run(site, tmp_path, "kinds", "models", "--json")
    rows = {row["kind"]: row for row in json.loads(listing.stdout)}
    assert rows["misplaced"]["error"].startswith("a CallbackConfig subclass, not a ModelConfig")
    assert rows["factory"]["error"] == "a function, not a ModelConfig subclass"
    assert "names no runtime class" in rows["targetless"]["error"]


def test_a_schema_module_importing_a_runtime_dependency_says_what_to_move(tmp_path: Path) -> None:
    """Where torch is not installed (CI), a plug-in whose schema module imports it fails with
    a message that says so; `not_installed_runtime` stands in for torch here."""
    site = make_site(tmp_path, "[noether.models]\nheavy = acme_kinds.heavy:HeavyModelConfig\n")
    (site / "acme_kinds" / "heavy.py").write_text("import not_installed_runtime\n")
    (tmp_path / "exp.yaml").write_text(
        (CONFIG % "weighted_loss").replace("  smoothness: 0.5\n", "  field_weights: {p: 1}\n")
    )
    done = run(site, tmp_path, "validate", "exp.yaml", "-o", "model={kind: heavy}")
    assert done.returncode == 1
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("exp.yaml:4:")]
    assert "kind 'heavy' of acme-kinds (acme_kinds.heavy:HeavyModelConfig) cannot be imported" in (
        line
    )
    assert "imports 'not_installed_runtime', which is not installed here" in line
    assert "only in the module that the schema's `target` names" in line


def test_a_malformed_entry_point_breaks_only_its_own_kind(tmp_path: Path) -> None:
    """importlib cannot parse a value that is no `module:attribute`; every lookup of the group
    used to fail on it ('NoneType' object has no attribute 'group')."""
    site = make_site(tmp_path)
    add_distribution(site, "acme-typo", "[noether.trainers]\nbroken = acme typo:::\n")
    (tmp_path / "short.yaml").write_text(CONFIG % "acme_trainer")
    done = run(site, tmp_path, "validate", "short.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(site, tmp_path, "validate", "short.yaml", "-o", "trainer.kind=broken")
    assert done.returncode == 1
    assert (
        "short.yaml:6: trainer.kind: kind 'broken' of acme-typo (acme typo:::) cannot be "
        "imported: ImportError: the entry point's value 'acme typo:::' is not "
        "'module:attribute' (in acme-typo's entry_points.txt)"
    ) in done.stdout, done.stdout
    listing = run(site, tmp_path, "kinds", "trainers", "--json")
    assert listing.returncode == 1, listing.stderr
    assert listing.stderr.endswith(
        "cannot be used, see `noether-config kinds`: broken (noether.trainers)\n"
    )
    rows = {row["kind"]: row for row in json.loads(listing.stdout)}
    assert "is not 'module:attribute'" in rows["broken"]["error"]
    assert "error" not in rows["acme_trainer"]


ODD_SCHEMA = '''
from collections.abc import Callable

from noether.config import ModelConfig


class OddModelConfig(ModelConfig):
    """A model whose config takes a callable: no JSON Schema for that field."""

    kind: str = "odd"
    hook: Callable[[int], int] | None = None
    """Called on every step."""
'''


def test_a_kind_without_json_schema_leaves_the_editor_schema_of_the_rest(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        "[noether.models]\nodd = acme_kinds.odd:OddModelConfig\n"
        "[noether.trainers]\nacme_trainer = acme_kinds.schemas:AcmeTrainerConfig\n",
    )
    (site / "acme_kinds" / "odd.py").write_text(ODD_SCHEMA)
    for root in ("experiment", "models"):
        done = run(site, tmp_path, "schema", root)
        assert done.returncode == 0, done.stderr
        schema = json.loads(done.stdout)
        assert '"odd"' in done.stdout  # still offered, with its root's fields
        if root == "experiment":
            assert "AcmeTrainerConfig" in schema["$defs"]


UNBUILDABLE_SCHEMA = '''
from noether.config import ModelConfig


class Mesh:
    """Not a type pydantic can validate."""


class MeshModelConfig(ModelConfig):
    """A model whose config holds a Mesh object."""

    kind: str = "mesh_model"
    mesh: Mesh | None = None
    """The mesh."""
'''


def test_a_schema_pydantic_cannot_build_is_an_error_at_its_kind(tmp_path: Path) -> None:
    """Schemas are built when first used: the error was the whole file's, at line 1, and
    `noether-config schema` an internal error."""
    site = make_site(
        tmp_path,
        "[noether.models]\nmesh_model = acme_kinds.mesh:MeshModelConfig\n"
        "[noether.trainers]\nacme_trainer = acme_kinds.schemas:AcmeTrainerConfig\n",
    )
    (site / "acme_kinds" / "mesh.py").write_text(UNBUILDABLE_SCHEMA)
    (tmp_path / "short.yaml").write_text(CONFIG % "acme_trainer")
    assert run(site, tmp_path, "validate", "short.yaml").returncode == 0
    done = run(site, tmp_path, "validate", "short.yaml", "-o", "model={kind: mesh_model}")
    assert done.returncode == 1
    assert (
        "short.yaml:4: model.kind: kind 'mesh_model' of acme-kinds "
        "(acme_kinds.mesh:MeshModelConfig): its schema cannot be built: Unable to generate "
        "pydantic-core schema for <class 'acme_kinds.mesh.Mesh'>."
    ) in done.stdout, done.stdout
    schema = run(site, tmp_path, "schema")
    assert schema.returncode == 0, schema.stderr
    assert "AcmeTrainerConfig" in json.loads(schema.stdout)["$defs"]
    listing = run(site, tmp_path, "kinds", "models", "--json")
    (row,) = json.loads(listing.stdout)
    assert row["error"].startswith("its schema cannot be built: Unable to generate")


def test_an_unknown_kind_published_in_another_group_says_where(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        "[noether.trainer]\nother_trainer = acme_kinds.other:OtherTrainerConfig\n"
        "[noether.datasets]\nacme_data = acme_kinds.schemas:AcmeDataConfig\n",
    )
    (site / "acme_kinds" / "other.py").write_text(
        "from noether.config import WeightedLossTrainerConfig\n\n\n"
        "class OtherTrainerConfig(WeightedLossTrainerConfig):\n"
        '    """Published in a misspelt group."""\n'
    )
    (tmp_path / "short.yaml").write_text(CONFIG % "other_trainer")
    done = run(site, tmp_path, "validate", "short.yaml", "-o", "model={kind: acme_data}")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    (trainer,) = [line for line in lines if line.startswith("short.yaml:6: trainer.kind:")]
    assert trainer.endswith(
        "(acme-kinds publishes it in the entry-point group 'noether.trainer'; this key reads "
        "'noether.trainers')"
    ), trainer
    (model,) = [line for line in lines if line.startswith("short.yaml:4: model.kind:")]
    assert "(acme-kinds publishes it in the entry-point group 'noether.datasets'; " in model


def test_a_published_loss_naming_no_function_is_refused_by_validate_and_kinds(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path, "[noether.losses]\nacme_gone = acme_kinds.schemas:gone_loss\n")
    config = Path(__file__).resolve().parents[1] / "examples" / "quickstart" / "config.yaml"
    done = run(site, tmp_path, "validate", str(config), "trainer.loss_fn=acme_gone")
    assert done.returncode == 1, done.stdout
    assert (
        ":38: trainer.loss_fn: loss 'acme_gone' is published by acme-kinds as "
        "'acme_kinds.schemas:gone_loss': module 'acme_kinds.schemas' ("
    ) in done.stdout, done.stdout
    assert "has no top-level name 'gone_loss' (set by override" in done.stdout
    listed = run(site, tmp_path, "kinds", "losses", "--json")
    rows = {row["kind"]: row for row in json.loads(listed.stdout)}
    assert rows["acme_gone"]["installed"] is False
    assert "has no top-level name 'gone_loss'" in rows["acme_gone"]["error"]
    assert listed.returncode == 1
