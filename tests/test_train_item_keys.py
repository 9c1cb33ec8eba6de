"""`noether-train` and `--dry-run` read one item of the train dataset before the model is
built and name a key that the trainer's config names but the item lacks.

A `<field>_target` or a forward property missing from the data used to pass `--dry-run`
(it read no sample) and fail a real run only at its first micro-batch, after the model was
built. Now the error names the config key (at its file and line, or the override that set
it), the missing item key and the keys the item has. Keys that only a trainer's own
`train_step` reads are not checked, so such a trainer is not refused.

Once the model is built, its forward is checked against the keys the trainer passes to it by
name, the same way (a trainer with its own `train_step` is not checked either).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

OWN_TRAINER = '''
from typing import ClassVar
from noether.config import BaseTrainerConfig, CallbackConfig
from noether.training.trainers import BaseTrainer, TrainerResult


class ExtraKeyTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """A trainer whose own train_step reads a key that no config field names."""

    target: ClassVar[str] = "own_trainer:ExtraKeyTrainer"


class ExtraKeyTrainer(BaseTrainer):
    def train_step(self, batch, model):
        out = model(points=batch["points"], flow_direction=batch["flow_direction"])
        loss = ((out["pressure"] - batch["pressure_target"]) ** 2).mean()
        return TrainerResult(loss, {"total": loss.detach()}, additional_outputs={})
'''

TUPLE_DATASET = '''
from typing import ClassVar
import torch
from noether.config import DatasetConfig


class PairsConfig(DatasetConfig):
    """Items as (input, target) tuples."""

    target: ClassVar[str] = "pairs:Pairs"


class Pairs(torch.utils.data.Dataset):
    def __init__(self, config):
        self.config = config

    def __len__(self):
        return 64

    def __getitem__(self, index):
        return torch.zeros(3), torch.zeros(1)
'''


def noether_train(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "noether-train"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "quickstart", tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_dry_run_names_the_field_whose_target_the_data_lacks(quickstart: Path) -> None:
    done = noether_train(
        quickstart, "--dry-run", "config.yaml", "trainer.field_weights={velocity: 1.0}"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "noether-train: config.yaml:37 (set by override 'trainer.field_weights={velocity: "
        "1.0}'): trainer.field_weights.velocity: item 0 of dataset 'train' "
        "(SphereFlowDataset) has no velocity_target; its keys: points, flow_direction, "
        "pressure_target"
    ) in done.stderr, done.stderr
    assert not (quickstart / "runs").exists()


def test_dry_run_names_the_line_of_an_extending_file_with_a_missing_forward_key(
    quickstart: Path,
) -> None:
    (quickstart / "exp.yaml").write_text(
        "extends: config.yaml\ntrainer:\n  forward_properties: [points, flow_dir]\n",
        encoding="utf-8",
    )
    done = noether_train(quickstart, "--dry-run", "exp.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "exp.yaml:3: trainer.forward_properties: item 0 of dataset 'train' (SphereFlowDataset) "
        "has no flow_dir; its keys: points, flow_direction, pressure_target"
    ) in done.stderr, done.stderr


def test_dry_run_of_matching_data_says_the_keys_were_found(quickstart: Path) -> None:
    done = noether_train(quickstart, "--dry-run", "config.yaml")
    assert done.returncode == 0, done.stderr
    assert "  train item 0: has the 3 keys the trainer reads\n" in done.stdout


def test_a_run_stops_before_building_the_model(quickstart: Path) -> None:
    done = noether_train(
        quickstart, "config.yaml", "trainer.target_properties=[pressure_target, cp]"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    message = "trainer.target_properties: item 0 of dataset 'train' (SphereFlowDataset) has no cp"
    assert message in done.stderr, done.stderr
    (log,) = (quickstart / "runs" / "quickstart").glob("*/train.log")
    text = log.read_text(encoding="utf-8")
    assert message in text
    assert "SphereFlowModel" not in text  # the model was never built
    assert not list(log.parent.glob("checkpoints*"))


def test_a_trainer_reading_keys_the_config_does_not_name_is_not_refused(
    quickstart: Path,
) -> None:
    (quickstart / "own_trainer.py").write_text(OWN_TRAINER, encoding="utf-8")
    config = yaml.safe_load((quickstart / "config.yaml").read_text(encoding="utf-8"))
    config["trainer"] = {
        "kind": "own_trainer:ExtraKeyTrainerConfig",
        "max_epochs": 1,
        "effective_batch_size": 32,
    }
    (quickstart / "exp.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = noether_train(quickstart, "--dry-run", "exp.yaml")
    assert done.returncode == 0, done.stderr
    assert "train item 0" not in done.stdout  # the config names no key: nothing to check
    # nor is its model's forward checked against forward_properties: only its train_step
    # knows what it passes (it passes flow_direction too)
    done = noether_train(quickstart, "--dry-run", "exp.yaml", "trainer.forward_properties=[points]")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_forward_parameter_no_forward_property_fills_is_named_at_its_line(
    quickstart: Path, dry_run: bool
) -> None:
    """It passed `--dry-run` and failed a run at its first micro-batch as `training failed
    after update 0: TypeError: SphereFlowModel.forward() missing 1 required positional
    argument`, naming no config key."""
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


@pytest.mark.parametrize(
    ("dataset", "reader"),
    # a validation set was found only at its first evaluation, epochs into the run, at a key
    # of the train config, without naming the dataset
    [("train", ""), ("val", ", which trainer.callbacks.0 evaluates,")],
)
def test_items_that_are_not_dicts_are_named_when_keys_are_wanted(
    quickstart: Path, dataset: str, reader: str
) -> None:
    (quickstart / "pairs.py").write_text(TUPLE_DATASET, encoding="utf-8")
    done = noether_train(
        quickstart, "--dry-run", "config.yaml", f"datasets.{dataset}={{kind: 'pairs:PairsConfig'}}"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "trainer.forward_properties: names item keys (points, flow_direction), but item 0 of "
        f"dataset '{dataset}' (Pairs){reader} is a tuple, not a dict keyed by name"
    ) in done.stderr, done.stderr
