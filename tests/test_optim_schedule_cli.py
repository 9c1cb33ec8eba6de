"""The learning rate a `noether-train` run uses per update, and optimizer values it refuses,
as a user sees them: the run's metrics.jsonl and the command's exit code and message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, NOETHER_TRAIN, metrics, noether_train, run_dirs

NO_CHECKPOINTS = "trainer.callbacks=[]"
FAILING_PROJECT = Path(__file__).parent / "failing_project"

OWN_SCHEMAS = """
from typing import ClassVar

from noether.config import OptimizerConfig, ScheduleConfig


class RmsPropConfig(OptimizerConfig):
    kind: str = "own_rmsprop"
    target: ClassVar[str] = "torch.optim:RMSprop"
    alpha: float = 0.99
    decay_rate: float = 0.9


class PlainScheduleConfig(ScheduleConfig):
    kind: str = "own_plain"
    target: ClassVar[str] = "own_runtime:PlainSchedule"
"""


def test_warmup_percent_of_a_half_update_rounds_up_in_the_run(tmp_path: Path) -> None:
    # 10 updates x 0.25 = 2.5 warm-up updates: 3 (round() made it 2, halves to even)
    schedule = "model.optimizer.schedule={kind: linear_warmup_cosine_decay, warmup_percent: 0.25}"
    result = noether_train(
        tmp_path,
        CONFIG,
        "trainer.max_epochs=null",
        "trainer.max_updates=10",
        schedule,
        NO_CHECKPOINTS,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    lrs = {row["update"]: row["optim/lr"] for row in metrics(run_dir) if "optim/lr" in row}
    assert sorted(lrs) == list(range(1, 11))
    assert [lrs[u] for u in (1, 2, 3, 4)] == pytest.approx([0.01 / 3, 0.02 / 3, 0.01, 0.01])
    assert lrs[10] == 0.0  # the decay ends at end_value on the last update


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_non_finite_lr_is_refused_before_training_naming_file_line_and_key(
    tmp_path: Path, value: str
) -> None:
    # an lr of inf used to train, and failed in update 1 blaming a non-finite gradient
    result = noether_train(tmp_path, CONFIG, f"model.optimizer.lr={value}")
    assert result.returncode == 1
    assert "experiment.yaml:14: model.optimizer.lr: Input should be a finite number" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert run_dirs(tmp_path) == []


def test_lr_scale_key_naming_no_parameter_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    # it was "training failed after update 0 of 48: ValueError: ..." with a traceback in
    # train.log, as if the run had broken rather than the file
    result = noether_train(tmp_path, CONFIG, "model.optimizer.lr_scale={nett: 0.1}")
    assert result.returncode == 1
    assert (
        "experiment.yaml:12 (set by override 'model.optimizer.lr_scale={nett: 0.1}'): "
        "model.optimizer.lr_scale: 'nett' is part of no parameter name of Mlp (a key is "
        "whole parts of a dotted name, like 'head' or 'blocks.0'; its parameters: "
        "net.0.weight, net.0.bias, net.3.weight, net.3.bias)"
    ) in result.stderr
    assert "training failed" not in result.stderr and "Traceback" not in result.stderr


def test_own_optimizer_and_schedule_kinds_that_cannot_build_are_named_before_building(
    tmp_path: Path,
) -> None:
    # both failed as "training failed after update 0 of N: TypeError: ...", after the
    # datasets and the model were built, leaving a run folder behind
    project = tmp_path / "project"
    shutil.copytree(FAILING_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "own_schemas.py").write_text(OWN_SCHEMAS)
    (project / "own_runtime.py").write_text("class PlainSchedule:\n    pass\n")
    result = subprocess.run(
        [str(NOETHER_TRAIN), "experiment.yaml",
         "model.optimizer={kind: 'own_schemas:RmsPropConfig', lr: 0.1, "
         "schedule: {kind: 'own_schemas:PlainScheduleConfig'}}"],
        cwd=project, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    (optimizer,) = [line for line in lines if "): model.optimizer.decay_rate: " in line]
    assert "experiment.yaml:11 " in optimizer
    assert "'torch.optim:RMSprop' takes no argument 'decay_rate' (its arguments: lr, alpha" in (
        optimizer
    )
    (schedule,) = [line for line in lines if "): model.optimizer.schedule (kind " in line]
    assert (
        "'own_runtime:PlainSchedule' is not a noether.core.optim.schedules.ScheduleBase subclass"
    ) in schedule
    assert not (project / "runs").exists()


def test_resume_that_changes_one_groups_lr_scale_warns_with_that_groups_values(
    tmp_path: Path,
) -> None:
    # the warning said "the learning rate of update 13 is 0.01, not 0.01": the first group's
    # values, which had not changed
    constant = ["model.optimizer.schedule=null", "trainer.callbacks=[{kind: checkpoint, "
                "every_n_epochs: 1, save_optim: true}]"]  # fmt: skip
    first = noether_train(
        tmp_path, CONFIG, "trainer.max_epochs=1", "model.optimizer.lr_scale={net.3: 0.5}",
        *constant,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    resumed = noether_train(
        tmp_path, "--resume", run_dir, "trainer.max_epochs=2",
        "model.optimizer.lr_scale={net.3: 0.25}", *constant,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert (
        "the learning rate of update 13 is 0.0025, not 0.005 as the checkpoint's run set it "
        "(parameter group 'net.3'): this config's optimizer sets it otherwise"
    ) in resumed.stderr
    lrs = {row["update"]: row["optim/lr/net.3"] for row in metrics(run_dir) if "optim/lr" in row}
    assert (lrs[12], lrs[13], lrs[24]) == (0.005, 0.0025, 0.0025)
