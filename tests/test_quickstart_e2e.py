"""The quickstart as a real `noether-train` subprocess, shortened to a couple of updates."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "quickstart" / "config.yaml"
NOETHER_TRAIN = Path(sys.executable).parent / "noether-train"
PLOT_TOOL = ROOT / "tools" / "plot_loss_curve.py"

# 64 training spheres, effective batch 32: 2 updates in the one epoch
SHORT = (
    "trainer.max_epochs=1",
    "datasets.train.num_samples=64",
    "datasets.val.num_samples=16",
    "trainer.callbacks.0.every_n_epochs=1",
    "trainer.callbacks.1.every_n_epochs=1",
)


def read_scalars(event_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(event_dir))
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("quickstart")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [str(NOETHER_TRAIN), str(CONFIG), *SHORT, f"output_path={cwd / 'runs'}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (cwd / "runs" / "quickstart").iterdir()
    return run_dir, result


def test_run_folder_holds_resolved_config_checkpoint_and_event_files(short_run):
    run_dir, result = short_run
    assert "Traceback" not in result.stderr
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["trainer"]["max_epochs"] == 1
    assert resolved["trainer"]["loss_fn"] == "rel_l2"
    assert resolved["datasets"]["train"]["num_samples"] == 64
    assert resolved["tracker"]["kind"] == "tensorboard"
    weights = torch.load(run_dir / "checkpoints" / "E1_U2_S64" / "model.pt", weights_only=True)
    assert any(key.startswith("mlp.") for key in weights)
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert "finished run" in (run_dir / "train.log").read_text()


def test_metrics_hold_online_and_validation_losses_per_field(short_run):
    run_dir, _ = short_run
    scalars = read_scalars(run_dir / "tensorboard")
    for key in ("loss/online/pressure", "loss/online/total", "loss/val/pressure", "loss/val/total"):
        assert key in scalars, sorted(scalars)
    step, value = scalars["loss/val/pressure"][-1]
    assert step == 2
    assert 0 < value < 2  # a relative error of an untrained model, not a NaN or a sum


def test_progress_and_final_validation_error_are_printed(short_run):
    run_dir, result = short_run
    assert re.search(r"epoch 1/1 \| update 2/2 \(100\.0%\)", result.stderr)
    match = re.search(r"^final loss/val/pressure = (\S+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    logged = read_scalars(run_dir / "tensorboard")["loss/val/pressure"][-1][1]
    assert float(match.group(1)) == pytest.approx(logged, rel=1e-4)


def colour_share(png: Path, rgb: tuple[int, int, int]) -> float:
    """Fraction of the picture's pixels within a small distance of `rgb` (read by matplotlib)."""
    from matplotlib.image import imread

    pixels = imread(png)[..., :3] * 255
    distance = abs(pixels - rgb).max(axis=-1)
    return float((distance < 8).mean())


def test_loss_curve_tool_draws_the_run(short_run, tmp_path):
    run_dir, _ = short_run
    output = tmp_path / "curve.png"
    keys = ["loss/online/pressure", "loss/val/pressure"]
    done = subprocess.run(
        [
            *(sys.executable, str(PLOT_TOOL), str(run_dir.parent), "--output", str(output)),
            *("--keys", *keys, "--hline", "0.05"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loss/online/pressure: 2 points" in done.stdout
    assert "loss/val/pressure: 1 points" in done.stdout
    from matplotlib.image import imread

    assert imread(output).shape[:2] == (500, 820)
    # the two curves (and their legend lines) in matplotlib's tab:blue and tab:red; no green
    assert colour_share(output, (31, 119, 180)) > 1e-4
    assert colour_share(output, (214, 39, 40)) > 1e-4
    assert colour_share(output, (44, 160, 44)) == 0


def test_loss_curve_tool_names_missing_keys(short_run, tmp_path):
    run_dir, _ = short_run
    done = subprocess.run(
        [
            *(sys.executable, str(PLOT_TOOL), str(run_dir), "--keys", "loss/test/pressure"),
            *("--output", str(tmp_path / "x.png")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no loss/test/pressure" in done.stderr and "loss/val/pressure" in done.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "trainer.field_weights={velocity: 1.0}",
            "trainer.field_weights.velocity: item 0 of dataset 'train' (SphereFlowDataset) has "
            "no velocity_target; its keys: points, flow_direction, pressure_target",
        ),
        (
            "trainer.loss_fn=sphere_flow.losses:relative_h1",
            "trainer.loss_fn: cannot find module 'sphere_flow.losses'",
        ),
    ],
)
def test_trainer_errors_are_messages_not_tracebacks(tmp_path, override, expected):
    done = subprocess.run(
        [str(NOETHER_TRAIN), str(CONFIG), *SHORT, override, f"output_path={tmp_path}"],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
