"""A run folder's `config.yaml` as users drive it from the command line.

- Started again as a new run (`noether-train runs/<name>/<id>/config.yaml`), it found none of
  the user's modules (they are next to the original config, not in the run folder) and the
  new run's run.json would have pointed at the old run folder. Now the modules are found as
  `--resume` finds them, and run.json records the original config file.
- A `--resume` with nothing left to train leaves the run as it is: an override given to it
  (another lr) no longer rewrites config.yaml, which must say how the run was trained.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOETHER_TRAIN = Path(sys.executable).parent / "noether-train"
TINY = (
    "trainer.max_epochs=1",
    "datasets.train.num_samples=64",
    "datasets.val.num_samples=32",
    "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]",
)


def noether_train(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NOETHER_TRAIN), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny quickstart run with a checkpoint at its end."""
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "examples" / "quickstart", project, dirs_exist_ok=True)
    done = noether_train(project, "config.yaml", *TINY, "--run-id", "first")
    assert done.returncode == 0, done.stderr
    return project / "runs" / "quickstart" / "first"


def test_a_runs_config_yaml_starts_a_new_run_from_another_folder(
    finished_run: Path, tmp_path: Path
) -> None:
    config = finished_run / "config.yaml"
    done = noether_train(tmp_path, str(config), f"output_path={tmp_path}", "--run-id", "again")
    assert done.returncode == 0, done.stderr
    assert "final loss/online/pressure" in done.stdout
    info = json.loads((tmp_path / "quickstart" / "again" / "run.json").read_text("utf-8"))
    original = finished_run.parents[2] / "config.yaml"
    assert info["config_file"] == str(original.resolve())
    assert info["config_dir"] == str(original.parent.resolve())


def test_a_resume_with_nothing_left_to_train_keeps_the_runs_config(finished_run: Path) -> None:
    config = finished_run / "config.yaml"
    before = config.read_bytes()
    done = noether_train(
        finished_run.parent, "--resume", str(finished_run), "model.optimizer.lr=0.5"
    )
    assert done.returncode == 0, done.stderr
    assert "nothing left to train" in done.stderr
    assert config.read_bytes() == before
