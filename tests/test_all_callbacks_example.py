"""examples/quickstart/all_callbacks.yaml: validates without torch and trains end to end
through `noether-train`, with every callback of noether-callbacks leaving its trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "quickstart" / "all_callbacks.yaml"
BIN = Path(sys.executable).parent

# Small and fast: 64 training samples / 32 per update = 2 updates per epoch.
OVERRIDES = [
    "datasets.train.num_samples=64",
    "datasets.train.num_points=32",
    "datasets.val.num_samples=20",
    "datasets.val.num_points=32",
    "model.hidden_dim=16",
    "trainer.max_epochs=5",
    "trainer.callbacks.0.every_n_epochs=1",  # ema weights written every epoch
    "trainer.callbacks.6.every_n_updates=2",  # track_outputs
    "trainer.callbacks.7.every_n_epochs=1",  # checkpoint, keep_last 2
    "trainer.callbacks.8.stop_at_epoch=3",  # fixed_early_stopper
]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_all_callbacks_example_validates_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from noether.config.cli import main\n"
        f"sys.argv = ['noether-config', 'validate', {str(EXAMPLE)!r}]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_all_callbacks_example_trains_and_every_callback_acts(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "noether-train"), str(EXAMPLE), f"output_path={tmp_path}", *OVERRIDES],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    (run_dir,) = (tmp_path / "quickstart_all_callbacks").iterdir()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # fixed_early_stopper: stopped after epoch 3 = update 6, before max_epochs (5)
    assert max(row["update"] for row in rows) == 6
    logged = set().union(*rows)
    for key in (
        "loss/val/total",
        "loss/val/pressure",
        "loss/val/ema0.95/total",
        "best/loss/val/total",
        "best_update/loss/val/total",
        "outputs/pressure_max_abs_error",
    ):
        assert key in logged, key
    assert "final loss/val/total = " in result.stdout

    checkpoints = run_dir / "checkpoints"
    folders = {p.name for p in checkpoints.iterdir()}
    assert {"best_loss.val.total", "best_loss.val.total_tol5", "latest"} <= folders
    # keep_last 2: the checkpoints of epochs 2 and 3 keep their files; epoch 1's folder was
    # deleted whole, with the EMA weights written there
    assert (checkpoints / "E2_U4_S128" / "trainer.pt").is_file()
    assert (checkpoints / "E3_U6_S192" / "trainer.pt").is_file()
    assert not (checkpoints / "E1_U2_S64").exists()
    assert (checkpoints / "latest" / "optim.pt").is_file()


def test_example_without_noether_callbacks_names_the_package(tmp_path: Path) -> None:
    """noether-train with noether-callbacks hidden from the import system names the package."""
    code = (
        "import importlib.machinery\n"
        "original = importlib.machinery.PathFinder.find_spec\n"
        "def find_spec(name, path=None, target=None):\n"
        "    if name == 'noether.callbacks' or name.startswith('noether.callbacks.'):\n"
        "        return None\n"
        "    return original(name, path, target)\n"
        "importlib.machinery.PathFinder.find_spec = staticmethod(find_spec)\n"
        "from noether.core.cli import main\n"
        f"main([{str(EXAMPLE)!r}, 'output_path={tmp_path}', *{OVERRIDES!r}])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "install the package 'noether-callbacks'" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
