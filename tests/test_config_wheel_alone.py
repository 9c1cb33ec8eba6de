"""The noether-config wheel installed alone into a fresh venv: no torch, and validate works.

Needs uv and a package index (or uv's cache) for pydantic / typer / pyyaml; set
NOETHER_OFFLINE=1 to skip it where neither is reachable. It runs in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from noether.config.losses import BUILTIN_LOSSES

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")

pytestmark = pytest.mark.skipif(
    os.environ.get("NOETHER_OFFLINE") == "1" or UV is None,
    reason="needs uv and a reachable package index (NOETHER_OFFLINE=1 skips)",
)

CONFIG = """\
name: wheel-alone
datasets:
  train: {kind: alone_schemas:GridDatasetConfig}
model:
  kind: alone_schemas.GridModelConfig
  optimizer: {kind: adam, lr: 1.0e-3, schedule: {kind: step, step_size: 100}}
trainer:
  kind: weighted_loss
  max_samples: 1024
  effective_batch_size: 16
  field_weights: {velocity: 1.0, pressure: 0.5}
  loss_fn: huber
  initializer: {kind: resume, run: previous}
tracker: {kind: noop}
"""

SCHEMAS = """\
from noether.config import DatasetConfig, ModelConfig


class GridDatasetConfig(DatasetConfig):
    \"\"\"A grid.\"\"\"


class GridModelConfig(ModelConfig):
    \"\"\"A model.\"\"\"
"""


def uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert UV is not None
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    return subprocess.run(
        [UV, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The noether-config wheel, built once for this module's tests."""
    dist = tmp_path_factory.mktemp("dist")
    built = uv("build", "--package", "noether-config", "--wheel", "--out-dir", str(dist))
    assert built.returncode == 0, built.stderr
    (found,) = dist.glob("noether_config-*.whl")
    return found


def install(venv: Path, *args: str) -> Path:
    """A fresh venv at `venv` with `uv pip install *args`; returns its python."""
    made = uv("venv", str(venv), "--python", sys.executable, "--quiet")
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = uv("pip", "install", "--python", str(python), *args)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def noether_config(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`noether-config ARGS` of the venv at `venv`, outside the workspace."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(venv / "bin" / "noether-config"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_wheel_alone_pulls_no_torch_and_validates(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = install(venv, str(wheel))
    listing = uv("pip", "list", "--python", str(python), "--format", "freeze")
    names = {line.split("==")[0].lower() for line in listing.stdout.splitlines() if line}
    assert {"noether-config", "pydantic", "typer", "pyyaml"} <= names
    assert not names & {"torch", "numpy", "noether-core", "noether-trainers", "noether-callbacks"}

    project = tmp_path / "project"
    project.mkdir()
    (project / "alone_schemas.py").write_text(SCHEMAS)
    (project / "experiment.yaml").write_text(CONFIG)
    done = noether_config(venv, project, "validate", "experiment.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: experiment.yaml" in done.stdout
    bad = noether_config(venv, project, "validate", "experiment.yaml", "-o", "tracker.kind=jsonll")
    assert bad.returncode == 1
    assert (
        "experiment.yaml:14: tracker.kind: unknown TrackerConfig kind 'jsonll'; known kinds: jsonl"
        in (bad.stdout)
    )
    # the losses that validate accepts are listed, with the package that brings them
    losses = noether_config(venv, project, "kinds", "losses")
    assert losses.returncode == 0, losses.stdout + losses.stderr
    listed = {line.split()[0]: line.split()[1:3] for line in losses.stdout.splitlines()[1:]}
    assert listed == {name: ["noether-trainers", "NOT"] for name in BUILTIN_LOSSES}
    assert list(listed) == sorted(BUILTIN_LOSSES)
    # a kind whose schema noether-config brings says which package brings its runtime
    trainers = noether_config(venv, project, "kinds", "trainers").stdout.splitlines()
    assert trainers[1].split()[:2] == ["weighted_loss", "noether-config"]
    assert trainers[1].endswith("(install noether-trainers)"), trainers

    # a plug-in that publishes a built-in name: noether-train, beside noether-trainers,
    # refuses it; validate passed it here, where noether-trainers is not installed
    (site,) = venv.glob("lib/python*/site-packages")
    info = site / "huber_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: huber-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[noether.losses]\nhuber = huber_plugin:huber\n")
    clash = noether_config(venv, project, "validate", "experiment.yaml")
    assert clash.returncode == 1, clash.stdout + clash.stderr
    assert (
        "experiment.yaml:12: trainer.loss_fn: loss 'huber' is a built-in loss of "
        "noether-trainers, and huber-plugin publishes it too (huber_plugin:huber"
    ) in clash.stdout, clash.stdout
    listed_both = noether_config(venv, project, "kinds", "losses").stdout.splitlines()
    huber = [line.split() for line in listed_both if line.split()[:1] == ["huber"]]
    assert sorted(row[1] for row in huber) == ["huber-plugin", "noether-trainers"]
    assert all("[error: duplicate short name:" in " ".join(row) for row in huber)


def floors(wheel: Path) -> list[str]:
    """`name==X` for each requirement `name>=X` of the wheel (its declared lower bounds)."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    pins = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.partition(":")[2].strip())
            pins += [
                f"{requirement.name}=={spec.version}"
                for spec in requirement.specifier
                if spec.operator == ">="
            ]
    return pins


@pytest.mark.parametrize("resolution", ["lowest", "floors"])
def test_wheel_alone_works_with_the_lowest_versions_its_requirements_allow(
    wheel: Path, tmp_path: Path, resolution: str
) -> None:
    """The declared lower bounds are true, both with the lowest versions of everything and
    with the floors next to the newest versions of their own requirements (a project that
    pins an old typer gets today's click): typer 0.12.0 to 0.12.3 cannot build the CLI's
    `list[str] | None` options, and typer before 0.16 with click 8.2 or later turns flags on
    that were not given (`--experiments-only`: a misspelt `trainer:` was skipped, exit 0)."""
    venv = tmp_path / "venv"
    if resolution == "lowest":
        install(venv, "--resolution", "lowest", str(wheel))
    else:
        install(venv, str(wheel), *floors(wheel))
    (tmp_path / "alone_schemas.py").write_text(SCHEMAS)
    (tmp_path / "experiment.yaml").write_text(CONFIG)
    (tmp_path / "misspelt.yaml").write_text(CONFIG.replace("trainer:", "traner:"))

    def validate(*args: str) -> subprocess.CompletedProcess[str]:
        return noether_config(venv, tmp_path, "validate", *args)

    done = validate("experiment.yaml", "-o", "tracker.kind=jsonll")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "experiment.yaml:14: tracker.kind: unknown TrackerConfig kind 'jsonll'" in done.stdout
    misspelt = validate("misspelt.yaml")
    assert misspelt.returncode == 1, misspelt.stdout + misspelt.stderr
    assert "misspelt.yaml:7: traner: unknown key" in misspelt.stdout
    helped = validate("--help")
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert "--experiments-only" in helped.stdout


def test_wheel_in_the_projects_own_venv_validates_configs_of_several_folders(
    wheel: Path, tmp_path: Path
) -> None:
    """The venv inside the project folder (`uv venv` makes `.venv` there), configs in the
    project folder and a subfolder, each next to its own `alone_schemas.py`: validating both
    at once forgets the first folder's modules, but never noether's own, which lie below that
    folder too (unloading them broke the second folder's schemas)."""
    project = tmp_path / "project"
    install(project / ".venv", str(wheel))
    for folder in (project, project / "sub"):
        folder.mkdir(exist_ok=True)
        (folder / "alone_schemas.py").write_text(SCHEMAS)
        (folder / "experiment.yaml").write_text(CONFIG)
    done = noether_config(project / ".venv", project, "validate", ".")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 file(s) checked: 2 valid, 0 invalid" in done.stdout
