"""The learning rate a `noether-train` run uses per update, and optimizer values it refuses,
as a user sees them: the run's metrics.jsonl and the command's exit code and message."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, metrics, noether_train, run_dirs

NO_CHECKPOINTS = "trainer.callbacks=[]"


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
        "model.optimizer.lr_scale: 'nett' is part of no parameter name of Mlp "
        "(its parameters: net.0.weight, net.0.bias, net.3.weight, net.3.bias)"
    ) in result.stderr
    assert "training failed" not in result.stderr and "Traceback" not in result.stderr
