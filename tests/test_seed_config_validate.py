"""`noether-config validate` on configs written as the seed allows, as real processes.

Seed-optional trainer fields given as None, a trainer config parametrised with the user's
callback configs, and a dotted `loss_fn` path checked in a process where `import torch` fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NOETHER_CONFIG = Path(sys.executable).parent / "noether-config"

SCHEMAS = '''
from typing import ClassVar, Union

from noether.config import BaseTrainerConfig, CallbackConfig, DatasetConfig, ModelConfig


class PointsConfig(DatasetConfig):
    """Random points."""

    target: ClassVar[str] = "seed_runtime_missing:Points"


class MlpConfig(ModelConfig):
    """A small MLP."""

    target: ClassVar[str] = "seed_runtime_missing:Mlp"


class PlotCallbackConfig(CallbackConfig):
    """Plots predictions."""

    kind: str = "seed_validate_plot"
    target: ClassVar[str] = "seed_runtime_missing:Plot"


class AuditCallbackConfig(CallbackConfig):
    """Audits the data."""

    kind: str = "seed_validate_audit"
    target: ClassVar[str] = "seed_runtime_missing:Audit"


MyCallbackConfig = Union[PlotCallbackConfig, AuditCallbackConfig]


class MyTrainerConfig(BaseTrainerConfig[MyCallbackConfig]):
    """A trainer that only takes this project's callbacks."""

    target: ClassVar[str] = "seed_runtime_missing:MyTrainer"


class AnyCallbackTrainerConfig(BaseTrainerConfig):
    """A trainer that takes every registered callback kind."""

    target: ClassVar[str] = "seed_runtime_missing:MyTrainer"
'''

LOSSES = """\
import torch


def huber(input, target):
    return torch.nn.functional.huber_loss(input, target)
"""

CONFIG = """\
name: seed-validate
datasets:
  train: {kind: "seed_validate_schemas:PointsConfig"}
model:
  kind: "seed_validate_schemas:MlpConfig"
  optimizer: {kind: adamw, lr: 1.0e-3}
trainer:
  kind: weighted_loss
  max_epochs: 2
  effective_batch_size: 12
  max_batch_size: 8
  field_weights: {pressure: 1.0}
  loss_fn: seed_validate_losses:huber
  callbacks:
  forward_properties:
  target_properties:
  add_default_callbacks:
  add_trainer_callbacks:
  monitor_interval:
  skip_nan_loss_max_count:
  precision:
tracker: {kind: jsonl}
"""

CALLBACKS_CONFIG = """\
name: seed-validate-callbacks
datasets:
  train: {kind: "seed_validate_schemas:PointsConfig"}
model: {kind: "seed_validate_schemas:MlpConfig"}
trainer:
  kind: "seed_validate_schemas:MyTrainerConfig"
  max_epochs: 2
  effective_batch_size: 8
  callbacks:
    - {kind: seed_validate_plot, every_n_epochs: 1}
    - {kind: seed_validate_audit, every_n_updates: 5}
    - {kind: checkpoint, every_n_epochs: 1}
"""


def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "seed_validate_schemas.py").write_text(SCHEMAS, encoding="utf-8")
    (folder / "seed_validate_losses.py").write_text(LOSSES, encoding="utf-8")
    return folder


def validate(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NOETHER_CONFIG), "validate", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def torch_blocked_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose `import torch` fails: a torch package that raises comes first."""
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('torch is blocked here')\n")
    path = [str(tmp_path / "blocker"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def test_seed_optional_trainer_fields_given_as_none_validate(tmp_path):
    folder = project(tmp_path)
    (folder / "experiment.yaml").write_text(CONFIG, encoding="utf-8")
    done = validate(folder, torch_blocked_env(tmp_path), "experiment.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: experiment.yaml" in done.stdout


def test_a_typo_in_the_loss_path_is_reported_with_its_line_without_torch(tmp_path):
    folder = project(tmp_path)
    env = torch_blocked_env(tmp_path)
    typo = CONFIG.replace(
        "loss_fn: seed_validate_losses:huber", "loss_fn: seed_validate_losses:hubr"
    )
    (folder / "typo.yaml").write_text(typo, encoding="utf-8")
    module = CONFIG.replace(
        "loss_fn: seed_validate_losses:huber", "loss_fn: seed_validate_loss:huber"
    )
    (folder / "module.yaml").write_text(module, encoding="utf-8")
    done = validate(folder, env, "typo.yaml", "module.yaml")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        "typo.yaml:13: trainer.loss_fn: module 'seed_validate_losses' "
        f"({folder / 'seed_validate_losses.py'}) has no top-level name 'hubr'; "
        "did you mean huber?"
    ) in done.stdout
    assert "module.yaml:13: trainer.loss_fn: cannot find module 'seed_validate_loss'" in done.stdout
    # the correct path was checked without importing it (its import needs torch)
    blocked = subprocess.run(
        [sys.executable, "-c", "import seed_validate_losses"], cwd=folder, env=env
    )
    assert blocked.returncode != 0


def test_a_parametrised_trainer_config_refuses_a_foreign_callback_kind(tmp_path):
    folder = project(tmp_path)
    (folder / "narrow.yaml").write_text(CALLBACKS_CONFIG, encoding="utf-8")
    wide = CALLBACKS_CONFIG.replace("MyTrainerConfig", "AnyCallbackTrainerConfig")
    (folder / "wide.yaml").write_text(wide, encoding="utf-8")
    done = validate(folder, dict(os.environ), "narrow.yaml")
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if "trainer.callbacks" in line]
    assert lines == [
        "narrow.yaml:12: trainer.callbacks.2.kind: CallbackConfig kind 'checkpoint' "
        "(CheckpointCallbackConfig) is not accepted here; allowed: seed_validate_plot "
        "(seed_validate_schemas:PlotCallbackConfig), seed_validate_audit "
        "(seed_validate_schemas:AuditCallbackConfig)"
    ]
    done = validate(folder, dict(os.environ), "wide.yaml")
    assert done.returncode == 0, done.stdout
