"""`noether-config schema` checked by check-jsonschema, as a CI job would run it.

The schema is written by the CLI in an environment where the downstream example is installed
(its kinds are in the schema, as for a user who generates the schema in their project), then
check-jsonschema runs on the example configs and on files using extends and ${...}, and on
files with the mistakes the schema must catch. Every file is also given to `noether-config
validate`, so that "good" and "bad" mean what the loader says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from noether.config.schemas.trainer import NONE_MEANS_DEFAULT

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
BIN = Path(sys.executable).parent

BASE = """\
name: sphere
datasets:
  train: {kind: sphere_flow.configs:SphereFlowDatasetConfig, num_samples: 8}
  val:
    kind: sphere_flow.configs:SphereFlowDatasetConfig
    num_samples: 4
    seed: 1
model:
  kind: sphere_flow.configs:SphereFlowModelConfig
  hidden_dim: 16
  optimizer:
    kind: adamw
    lr: 1.0e-3
    schedule: {kind: linear_warmup_cosine_decay, warmup_percent: 0.1}
trainer:
  kind: weighted_loss
  max_epochs: 2
  effective_batch_size: 4
  forward_properties: [points, flow_direction]
  field_weights: {pressure: 1.0}
  callbacks:
    - {kind: offline_loss, dataset_key: val, every_n_epochs: 1}
    - {kind: checkpoint, every_n_epochs: 2}
tracker: {kind: jsonl}
"""

# Values given by reference: whole mappings, numbers, a kind, inside strings that have a pattern.
REFERENCES = """\
vars:
  width: 16
  optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}
  tracker: noop
  device: cpu
name: sphere_${vars.width}
device: ${vars.device}
datasets:
  train: {kind: sphere_flow.configs:SphereFlowDatasetConfig, num_samples: 8}
model:
  kind: sphere_flow.configs:SphereFlowModelConfig
  hidden_dim: ${vars.width}
  optimizer: ${vars.optimizer}
trainer:
  kind: weighted_loss
  max_updates: ${vars.width}
  effective_batch_size: 4
  field_weights: {pressure: 1.0}
  callbacks:
    - {kind: checkpoint, every_n_updates: "${trainer.max_updates}"}
tracker: {kind: "${vars.tracker}"}
"""

# An overlay: mappings merge into the base's, so they may lack keys and kinds.
OVERLAY = """\
extends: _base.yaml
name: sphere_sgd
model:
  optimizer: {lr: 1.0e-2}
datasets:
  val: {num_samples: 8}
trainer:
  max_epochs: 4
  callbacks:
    - {kind: checkpoint, every_n_epochs: 4, save_optim: true}
"""

# An overlay that changes a kind (the section is replaced) and removes sections with null.
REPLACING_OVERLAY = """\
extends: _base.yaml
name: sphere_constant
model:
  optimizer:
    schedule: {kind: constant}
datasets:
  val: null
trainer:
  callbacks: [{kind: checkpoint, every_n_epochs: 2}]
tracker: null
"""

# (file, what to change in BASE (or OVERLAY), where check-jsonschema must report it)
MISTAKES = {
    "optimizer_lr.yaml": ("    lr: 1.0e-3", "    lr: -1.0", "$.model.optimizer.lr"),
    "optimizer_kind.yaml": ("    kind: adamw", "    kind: adamww", "$.model.optimizer.kind"),
    "optimizer_key.yaml": ("    lr: 1.0e-3", "    lrr: 1.0e-3", "$.model.optimizer"),
    "schedule_rule.yaml": (
        "warmup_percent: 0.1}",
        "warmup_percent: 0.1, warmup_updates: 5}",
        "$.model.optimizer.schedule",
    ),
    "two_stops.yaml": ("  max_epochs: 2\n", "  max_epochs: 2\n  max_updates: 9\n", "$.trainer"),
    "no_frequency.yaml": (
        "{kind: checkpoint, every_n_epochs: 2}",
        "{kind: checkpoint}",
        "$.trainer.callbacks[1]",
    ),
    "tracker_kind.yaml": ("{kind: jsonl}", "{kind: jsonll}", "$.tracker.kind"),
    "loss_name.yaml": (
        "  field_weights: {pressure: 1.0}\n",
        "  field_weights: {pressure: 1.0}\n  loss_fn: rel_l3\n",
        "$.trainer.loss_fn",
    ),
    "missing_key.yaml": ("  effective_batch_size: 4\n", "", "$.trainer"),
    "own_trainer_two_stops.yaml": (
        "  kind: weighted_loss\n  max_epochs: 2\n",
        "  kind: callbacks_demo.configs:ErrorReportingTrainerConfig\n"
        "  max_epochs: 2\n  max_samples: 64\n",
        "$.trainer",
    ),
    "overlay_no_frequency.yaml": (
        "every_n_epochs: 4, save_optim: true",
        "save_optim: true",
        "$.trainer.callbacks[0]",
    ),
}


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def env(downstream_site: Path) -> dict[str, str]:
    """The downstream example installed: its kinds are registered."""
    paths = [str(downstream_site), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


@pytest.fixture(scope="module")
def schema(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "noether.schema.json"
    done = run([str(BIN / "noether-config"), "schema", "-O", str(path)], env, ROOT)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project folder with the quickstart's schema modules."""
    for package in ("sphere_flow", "callbacks_demo"):
        shutil.copytree(QUICKSTART / package, tmp_path / package)
    (tmp_path / "_base.yaml").write_text(BASE)
    return tmp_path


def check(schema: Path, files: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "check-jsonschema"), "--schemafile", str(schema), *map(str, files)]
    return run(command, env, ROOT)


def validate(files: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "noether-config"), "validate", *map(str, files)], env, ROOT)


def test_schema_is_a_valid_json_schema(schema: Path, env: dict[str, str]) -> None:
    done = run([str(BIN / "check-jsonschema"), "--check-metaschema", str(schema)], env, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_good_configs_pass(schema: Path, folder: Path, env: dict[str, str]) -> None:
    (folder / "references.yaml").write_text(REFERENCES)
    (folder / "overlay.yaml").write_text(OVERLAY)
    (folder / "replacing_overlay.yaml").write_text(REPLACING_OVERLAY)
    files = [
        QUICKSTART / "config.yaml",
        QUICKSTART / "all_callbacks.yaml",  # extends, and a trainer of the project's own
        ROOT / "examples" / "downstream" / "config.yaml",  # kinds of an installed project
        folder / "_base.yaml",
        folder / "references.yaml",
        folder / "overlay.yaml",
        folder / "replacing_overlay.yaml",
    ]
    done = validate(files, env)
    assert done.returncode == 0, done.stdout + done.stderr
    done = check(schema, files, env)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistakes_are_reported_at_their_key(
    name: str, schema: Path, folder: Path, env: dict[str, str]
) -> None:
    old, new, where = MISTAKES[name]
    original = OVERLAY if name.startswith("overlay") else BASE
    assert old in original
    path = folder / name
    path.write_text(original.replace(old, new, 1))
    assert validate([path], env).returncode == 1
    done = check(schema, [path], env)
    assert done.returncode == 1, done.stdout
    reported = [line.strip() for line in done.stdout.splitlines() if "::$" in line]
    assert any(line.startswith(f"{path}::{where}:") for line in reported), done.stdout


def test_documented_ci_command_checks_experiments_and_skips_fragments(
    schema: Path, folder: Path, env: dict[str, str]
) -> None:
    """The README's check-jsonschema line, run by a shell in a project: a partial base file
    (no trainer) next to the experiments is a fragment, not a failure."""
    readme = (ROOT / "packages" / "noether-config" / "README.md").read_text(encoding="utf-8")
    (command,) = re.findall(r"In CI, `(check-jsonschema [^`]+)`", readme)
    configs = folder / "configs"
    shutil.copytree(folder / "sphere_flow", configs / "sphere_flow")
    shutil.copy(schema, folder / "experiment.schema.json")
    base_without_trainer = BASE[: BASE.index("trainer:")]
    (configs / "_base.yaml").write_text(base_without_trainer)
    overlay = "extends: _base.yaml\ntrainer:\n  kind: weighted_loss\n  max_epochs: 2\n"
    overlay += "  effective_batch_size: 4\n  field_weights: {pressure: 1.0}\n"
    (configs / "exp.yaml").write_text(overlay)
    shell = {**env, "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")])}
    assert validate([configs / "exp.yaml"], env).returncode == 0
    done = run(["bash", "-c", command], shell, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    (configs / "bad.yaml").write_text(overlay.replace("max_epochs: 2", "max_epochs: -2"))
    done = run(["bash", "-c", command], shell, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    reported = [line.strip() for line in done.stdout.splitlines() if "::$" in line]
    assert reported and all(line.startswith("configs/bad.yaml::$.trainer") for line in reported)


def test_fields_where_null_means_the_default_accept_null(
    schema: Path, folder: Path, env: dict[str, str]
) -> None:
    """`callbacks:` with nothing after it (and the other NONE_MEANS_DEFAULT fields given as
    null) validates: the schema lets an editor accept it too."""
    files = []
    for name in sorted(NONE_MEANS_DEFAULT):
        lines = [line for line in BASE.splitlines() if not line.startswith(f"  {name}:")]
        lines.insert(lines.index("  kind: weighted_loss") + 1, f"  {name}:")
        if name == "callbacks":  # its list items were below it
            lines = [line for line in lines if not line.startswith("    - {kind: ")]
        path = folder / f"null_{name}.yaml"
        path.write_text("\n".join(lines) + "\n")
        files.append(path)
    done = validate(files, env)
    assert done.returncode == 0, done.stdout + done.stderr
    done = check(schema, files, env)
    assert done.returncode == 0, done.stdout + done.stderr
