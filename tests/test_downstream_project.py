"""examples/downstream: installed as a real package, found by entry points, and trained.

The project is installed into a temporary folder put on PYTHONPATH (`downstream_site` in
conftest.py), so the workspace environment stays untouched and the test can run again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOWNSTREAM = ROOT / "examples" / "downstream"
BIN = Path(sys.executable).parent


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(downstream_site: Path) -> dict[str, str]:
    """Environment variables under which the installed project is visible."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(downstream_site), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "OMP_NUM_THREADS": "1",
    }


def test_installed_loss_is_found_by_name(installed, tmp_path):
    code = (
        "import math, torch\n"
        "from noether.training.trainers.losses import resolve_loss\n"
        "import acme_surrogates.losses as own\n"
        "loss = resolve_loss('acme_log_cosh')\n"
        "assert loss is own.log_cosh\n"
        "value = loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])).item()\n"
        "print(value, math.log(math.cosh(2.0)) / 2)\n"
    )
    done = run([sys.executable, "-c", code], installed, tmp_path)
    assert done.returncode == 0, done.stderr
    value, expected = map(float, done.stdout.split())
    assert value == pytest.approx(expected, rel=1e-6)


def test_downstream_trains_a_few_updates_with_its_own_trainer_and_loss(installed, tmp_path):
    done = run(
        [
            str(BIN / "noether-train"),
            str(DOWNSTREAM / "config.yaml"),
            "trainer.max_epochs=null",
            "trainer.max_updates=6",
            "trainer.callbacks.0.every_n_epochs=null",
            "trainer.callbacks.0.every_n_updates=3",
            f"output_path={tmp_path / 'runs'}",
        ],
        installed,
        tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "runs" / "acme").iterdir()
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["trainer"]["kind"] == "acme_trainer"
    assert resolved["trainer"]["loss_fn"] == "acme_log_cosh"
    assert "AcmeTrainer" in (run_dir / "train.log").read_text()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert max(row["update"] for row in rows) == 6
    val = [row["loss/val/signal"] for row in rows if "loss/val/signal" in row]
    assert len(val) == 2 and all(value > 0 for value in val)
    assert "final loss/val/signal = " in done.stdout


def test_weighted_loss_config_may_name_the_installed_loss(installed, tmp_path):
    config = yaml.safe_load((DOWNSTREAM / "config.yaml").read_text())
    config["trainer"] = {
        "kind": "weighted_loss",
        "loss_fn": "acme_log_cosh",
        "field_weights": {"signal": 1.0},
        "max_epochs": 1,
        "effective_batch_size": 8,
    }
    path = tmp_path / "weighted.yaml"
    path.write_text(yaml.safe_dump(config))
    done = run([str(BIN / "noether-config"), "validate", str(path)], installed, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # without the project installed, the same file names the loss as unknown
    plain = {key: value for key, value in installed.items() if key != "PYTHONPATH"}
    done = run([str(BIN / "noether-config"), "validate", str(path)], plain, tmp_path)
    assert done.returncode == 1
    assert "unknown loss 'acme_log_cosh'" in done.stdout + done.stderr


def test_downstream_config_validates_without_torch(installed, tmp_path):
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    env = {
        **installed,
        "PYTHONPATH": os.pathsep.join([str(blocker.parent), installed["PYTHONPATH"]]),
    }
    done = run(
        [str(BIN / "noether-config"), "validate", str(DOWNSTREAM / "config.yaml")], env, tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the trainer's own loss_fn (a LossName) is checked as weighted_loss's: before, the run
    # refused it only once built, with no file or line
    typo = run(
        [
            str(BIN / "noether-config"),
            "validate",
            str(DOWNSTREAM / "config.yaml"),
            "trainer.loss_fn=acme_log_cosj",
        ],
        env,
        tmp_path,
    )
    assert typo.returncode == 1, typo.stdout + typo.stderr
    assert (
        "config.yaml:20: trainer.loss_fn: unknown loss 'acme_log_cosj'; known losses: acme_log_cosh"
    ) in typo.stdout, typo.stdout
    done = run([sys.executable, "-c", "import torch"], env, tmp_path)
    assert "torch is blocked in this test" in done.stderr


def test_without_the_project_its_kinds_are_unknown(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = run(
        [str(BIN / "noether-train"), str(DOWNSTREAM / "config.yaml"), f"output_path={tmp_path}"],
        env,
        tmp_path,
    )
    assert done.returncode == 1
    assert "acme_trainer" in done.stderr
    assert "Traceback" not in done.stderr
