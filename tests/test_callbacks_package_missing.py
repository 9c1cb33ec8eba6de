"""noether-core and noether-trainers installed from their wheels, without noether-callbacks.

A config that names a callback kind validates (the schemas live in noether-config) and
`noether-train` stops before it builds anything, naming the package to install and, like
every config error, the file and line of each such callback.

torch and the other dependencies are pinned to the workspace's versions, so uv takes them
from its cache. Needs uv and a package index or uv's cache; NOETHER_OFFLINE=1 skips it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")

pytestmark = pytest.mark.skipif(
    UV is None or os.environ.get("NOETHER_OFFLINE") == "1",
    reason="needs uv and a reachable package index (NOETHER_OFFLINE=1 skips)",
)

EXPERIMENT = """\
extends: config.yaml
trainer:
  max_epochs: 1
  callbacks:
    - {kind: ema, every_n_epochs: 1, target_factors: [0.9]}
    - {kind: offline_loss, every_n_epochs: 1, dataset_key: val}
"""


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with noether-config, noether-core and noether-trainers from their wheels."""
    assert UV is not None
    work = tmp_path_factory.mktemp("no_callbacks")
    for package in ("noether-config", "noether-core", "noether-trainers"):
        built = run(UV, "build", "--package", package, "--wheel", "-o", work / "dist", cwd=ROOT)
        assert built.returncode == 0, built.stderr
    frozen = run(UV, "pip", "freeze", "--exclude-editable", "--python", sys.executable, cwd=work)
    pins = [line for line in frozen.stdout.splitlines() if not line.startswith("noether")]
    (work / "constraints.txt").write_text("\n".join(pins) + "\n")
    made = run(UV, "venv", "--quiet", "--python", sys.executable, work / "venv", cwd=work)
    assert made.returncode == 0, made.stderr
    wheels = sorted((work / "dist").glob("noether_*.whl"))
    assert len(wheels) == 3, wheels
    installed = run(
        *(UV, "pip", "install", "--python", work / "venv" / "bin" / "python"),
        *("--constraint", work / "constraints.txt", *wheels),
        cwd=work,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return work / "venv" / "bin"


def test_a_callback_kind_names_its_package_file_and_line(bin_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "quickstart", tmp_path, dirs_exist_ok=True)
    (tmp_path / "exp.yaml").write_text(EXPERIMENT, encoding="utf-8")
    validated = run(bin_dir / "noether-config", "validate", "exp.yaml", cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout  # schemas need no runtime package

    done = run(bin_dir / "noether-train", "exp.yaml", "device=cpu", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    for line, index, kind in ((5, 0, "ema"), (6, 1, "offline_loss")):
        assert f"  exp.yaml:{line}: trainer.callbacks.{index} (kind '{kind}'): " in done.stderr
    assert done.stderr.count("install the package 'noether-callbacks'") == 2, done.stderr
    assert not (tmp_path / "runs").exists()  # nothing built, no run folder


def test_version_says_which_noether_package_is_not_installed(bin_dir: Path, tmp_path: Path) -> None:
    """What a bug report pastes: the missing package is named, not left out."""
    done = run(bin_dir / "noether-train", "--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "noether-callbacks not installed" in lines
    assert any(line.startswith("noether-trainers 0.") for line in lines), lines
