"""Trainers written as the seed shows, run by `noether-train` from a config (real processes).

The project (tests/seed_project) uses the public API only; its config has `callbacks:` with
nothing after it (None: no user callbacks) and the default callbacks on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).parent / "seed_project" / "experiment.yaml"
NOETHER_TRAIN = Path(sys.executable).parent / "noether-train"


def noether_train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NOETHER_TRAIN), str(CONFIG), f"output_path={tmp_path / 'runs'}", *overrides],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def metric_rows(tmp_path: Path) -> list[dict]:
    (run_dir,) = (tmp_path / "runs" / "seed_fidelity").iterdir()
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_the_docstring_trainer_trains(tmp_path):
    done = noether_train(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rows = metric_rows(tmp_path)
    assert rows[-1]["update"] == 8  # 2 epochs of 32 / 8
    losses = [row["loss/online/total"] for row in rows if "loss/online/total" in row]
    assert len(losses) == 8
    assert losses[-1] < losses[0]
    assert "final loss/online/total = " in done.stdout


@pytest.mark.parametrize("form", ["loss_only", "explicit_none"])
def test_a_trainer_result_with_none_fields_trains_with_the_default_callbacks(tmp_path, form):
    done = noether_train(
        tmp_path, "trainer.kind=seed_schemas:NoneResultTrainerConfig", f"trainer.form={form}"
    )
    assert done.returncode == 0, done.stderr
    rows = metric_rows(tmp_path)
    losses = [row["loss/online/total"] for row in rows if "loss/online/total" in row]
    assert len(losses) == 8  # the total loss stands in for the missing losses_to_log
    assert all(loss > 0 for loss in losses)
    assert any("time/forward" in row for row in rows)


def test_a_constructor_that_cannot_take_keywords_is_named_with_its_signature(tmp_path):
    done = noether_train(tmp_path, "trainer.kind=seed_schemas:PositionalTrainerConfig")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "cannot build seed_runtime:PositionalTrainer" in done.stderr
    assert "unexpected keyword argument 'data_container'" in done.stderr
    assert "PositionalTrainer(trainer_config, *args)" in done.stderr
    assert (
        "PositionalTrainer(config, data_container=..., device=..., tracker=..., path_provider=...)"
        in done.stderr
    )


def test_a_train_step_that_returns_no_trainer_result_is_named(tmp_path):
    done = noether_train(tmp_path, "trainer.kind=seed_schemas:NotAResultTrainerConfig")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "NotAResultTrainer.train_step returned a dict" in done.stderr
    assert "TrainerResult(total_loss, losses_to_log=None, additional_outputs=None)" in done.stderr


def test_weighted_loss_logs_weighted_and_unweighted_field_losses(tmp_path):
    done = noether_train(
        tmp_path,
        "trainer.kind=weighted_loss",
        "trainer.field_weights={pressure: 2.0, velocity: 0.5}",
        "trainer.target_properties=null",  # None: the default, <field>_target of every field
        "model.fields=[pressure, velocity]",
        "trainer.callbacks=[{kind: offline_loss, dataset_key: val, every_n_epochs: 1}]",
    )
    assert done.returncode == 0, done.stderr
    rows = metric_rows(tmp_path)
    for prefix in ("loss/online", "loss/val"):
        logged = [row for row in rows if f"{prefix}/total" in row]
        assert logged, prefix
        for row in logged:
            weighted = row[f"{prefix}/pressure"] + row[f"{prefix}/velocity"]
            assert row[f"{prefix}/total"] == pytest.approx(weighted, rel=1e-5)
            unweighted = (
                2.0 * row[f"{prefix}/pressure_unweighted"]
                + 0.5 * row[f"{prefix}/velocity_unweighted"]
            )
            assert row[f"{prefix}/total"] == pytest.approx(unweighted, rel=1e-5)
            assert row[f"{prefix}/pressure"] != pytest.approx(row[f"{prefix}/pressure_unweighted"])
    assert "final loss/val/velocity_unweighted = " in done.stdout
