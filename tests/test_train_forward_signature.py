"""`noether-train` and `--dry-run` check the model's forward against the keys the trainer
passes to it by name, once the model is built and before the first update.

A forward property that the forward does not take (or a forward parameter that no forward
property fills) passed `--dry-run` and failed a run at its first micro-batch as `training
failed after update 0: TypeError: SphereFlowModel.forward() missing 1 required positional
argument`, naming no config key. A trainer with its own `train_step` is not checked: only it
knows what it passes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

OWN_STEP_TRAINER = '''
from typing import ClassVar
from noether.config import BaseTrainerConfig, CallbackConfig
from noether.training.trainers import BaseTrainer, TrainerResult


class OwnStepTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    target: ClassVar[str] = "own_step:OwnStepTrainer"


class OwnStepTrainer(BaseTrainer):
    """Passes the flow direction itself, whatever forward_properties say."""

    def train_step(self, batch, model):
        out = model(points=batch["points"], flow_direction=batch["flow_direction"])
        loss = ((out["pressure"] - batch["pressure_target"]) ** 2).mean()
        return TrainerResult(loss, {"total": loss.detach()}, additional_outputs={})
'''


def noether_train(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "noether-train"), *args], cwd=cwd, capture_output=True, text=True, timeout=180
    )


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "quickstart", tmp_path, dirs_exist_ok=True)
    return tmp_path


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_forward_parameter_no_forward_property_fills_is_named_at_its_line(
    quickstart: Path, dry_run: bool
) -> None:
    flags = ["--dry-run"] if dry_run else []
    done = noether_train(quickstart, *flags, "config.yaml", "trainer.forward_properties=[points]")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "training failed" not in done.stderr
    model = quickstart / "sphere_flow" / "model.py"
    assert (
        "config.yaml:36 (set by override 'trainer.forward_properties=[points]'): "
        f"trainer.forward_properties: SphereFlowModel.forward ({model}:24) needs "
        "flow_direction; the trainer passes it points (its forward_properties); list in "
        "forward_properties the keys the forward takes"
    ) in done.stderr, done.stderr


def test_a_trainer_with_its_own_train_step_is_not_checked(quickstart: Path) -> None:
    (quickstart / "own_step.py").write_text(OWN_STEP_TRAINER, encoding="utf-8")
    done = noether_train(
        quickstart,
        "config.yaml",
        "trainer={kind: 'own_step:OwnStepTrainerConfig', max_updates: 2, effective_batch_size: "
        "8, forward_properties: [points], target_properties: [pressure_target]}",
        "tracker={kind: jsonl}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
