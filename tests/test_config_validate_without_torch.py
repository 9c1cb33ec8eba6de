"""`noether-config validate` in a process where `import torch` fails.

A folder whose torch/__init__.py raises ImportError is put first on PYTHONPATH, so any import
of torch (by noether.config, a schema module or a plug-in) would fail the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOETHER_CONFIG = Path(sys.executable).parent / "noether-config"

SCHEMAS = '''
from typing import ClassVar

from pydantic import Field

from noether.config import DatasetConfig, ModelConfig


class SurfaceDatasetConfig(DatasetConfig):
    """Surface pressure samples."""

    target: ClassVar[str] = "notorch_runtime:SurfaceDataset"

    num_samples: int = Field(default=8, ge=1)
    """Number of samples."""


class SurfaceModelConfig(ModelConfig):
    """A small point-wise network."""

    target: ClassVar[str] = "notorch_runtime:SurfaceModel"

    hidden_dim: int = Field(default=16, ge=1)
    """Hidden width."""
'''

CONFIG = """\
name: no-torch
device: cpu
datasets:
  train: {kind: notorch_schemas:SurfaceDatasetConfig, num_samples: 32}
  val: {kind: notorch_schemas.SurfaceDatasetConfig, num_samples: 8}
model:
  kind: notorch_schemas:SurfaceModelConfig
  optimizer:
    kind: adamw
    lr: 1.0e-3
    schedule: {kind: linear_warmup_cosine_decay, warmup_percent: 0.1}
trainer:
  kind: weighted_loss
  max_epochs: 3
  effective_batch_size: 8
  max_batch_size: 4
  forward_properties: [points]
  target_properties: [pressure_target]
  field_weights: {pressure: 1.0}
  initializer: {kind: checkpoint, path: w.pt}
tracker: {kind: tensorboard}
"""


def blocked_env(tmp_path: Path) -> dict[str, str]:
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(tmp_path / "blocker"), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


def test_torch_is_really_blocked(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import torch"], env=blocked_env(tmp_path), capture_output=True
    )
    assert done.returncode != 0
    assert b"torch is blocked in this test" in done.stderr


def test_validate_builtin_kinds_and_project_schemas_without_torch(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notorch_schemas.py").write_text(SCHEMAS)
    (project / "experiment.yaml").write_text(CONFIG)
    (project / "broken.yaml").write_text(CONFIG.replace("max_epochs: 3", "max_epochs: [3]"))
    env = blocked_env(tmp_path)
    done = subprocess.run(
        [str(NOETHER_CONFIG), "validate", "experiment.yaml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: experiment.yaml" in done.stdout
    done = subprocess.run(
        [str(NOETHER_CONFIG), "validate", "broken.yaml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "broken.yaml:14: trainer.max_epochs: Input should be a valid integer" in done.stdout


def install_examples_as_metadata(site: Path) -> list[str]:
    """Lays out each example project (examples/*/pyproject.toml) as an installer would:
    a dist-info with its entry points, and its source folder on the path. Returns the paths."""
    paths = [str(site)]
    for pyproject in sorted((ROOT / "examples").glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        name = project["name"]
        info = site / f"{name.replace('-', '_')}-{project['version']}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {project['version']}\n\n"
        )
        sections = [
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
            for group, entries in project.get("entry-points", {}).items()
        ]
        (info / "entry_points.txt").write_text("\n".join(sections))
        source = pyproject.parent / "src"
        paths.append(str(source if source.is_dir() else pyproject.parent))
    return paths


def test_every_example_config_validates_without_torch(tmp_path: Path) -> None:
    examples = ROOT / "examples"
    if not any(examples.glob("**/*.yaml")):
        pytest.skip("no example configs in this checkout")
    env = blocked_env(tmp_path)
    extra = install_examples_as_metadata(tmp_path / "site")
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], *extra])
    done = subprocess.run(
        [str(NOETHER_CONFIG), "validate", str(examples)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert " 0 invalid" in done.stdout
