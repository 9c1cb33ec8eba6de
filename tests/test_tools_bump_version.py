"""tools/bump_version.py on a copy of the workspace's pyproject files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "bump_version.py"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    for pyproject in (ROOT / "packages").glob("*/pyproject.toml"):
        target = tmp_path / "packages" / pyproject.parent.name / "pyproject.toml"
        target.parent.mkdir(parents=True)
        shutil.copy(pyproject, target)
    for pyproject in (ROOT / "examples").glob("*/pyproject.toml"):
        target = tmp_path / "examples" / pyproject.parent.name / "pyproject.toml"
        target.parent.mkdir(parents=True)
        shutil.copy(pyproject, target)
    return tmp_path


def bump(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args], capture_output=True, text=True
    )


def project(root: Path, folder: str) -> dict:
    return tomllib.loads((root / "packages" / folder / "pyproject.toml").read_text())["project"]


def dependency(root: Path, folder: str, name: str) -> str:
    (spec,) = [d for d in project(root, folder)["dependencies"] if d.startswith(name)]
    return spec


def test_minor_bump_rewrites_version_and_sibling_ranges(workspace: Path) -> None:
    before = project(workspace, "noether-config")["version"]
    original = (ROOT / "packages" / "noether-config" / "pyproject.toml").read_text()
    major, minor, _ = (int(x) for x in before.split("."))
    done = bump(workspace, "noether-config", "minor")
    assert done.returncode == 0, done.stderr
    new = f"{major}.{minor + 1}.0"
    assert f"noether-config: {before} -> {new}" in done.stdout
    assert project(workspace, "noether-config")["version"] == new
    upper = f"{major + 1}" if major >= 1 else f"0.{minor + 2}"
    for folder in ("noether-core", "noether-trainers", "noether-callbacks"):
        assert dependency(workspace, folder, "noether-config") == (
            f"noether-config>={new},<{upper}"
        )
        # the other ranges are left alone
        assert project(workspace, folder)["version"] == project(ROOT, folder)["version"]
    assert dependency(workspace, "noether-trainers", "noether-core") == dependency(
        ROOT, "noether-trainers", "noether-core"
    )
    assert (ROOT / "packages" / "noether-config" / "pyproject.toml").read_text() == original


def test_the_example_projects_ranges_follow(workspace: Path) -> None:
    # the downstream example installs next to the workspace's wheels: its ranges must admit them
    trainers = project(workspace, "noether-trainers")["version"]  # not bumped: its range stays
    assert bump(workspace, "noether-config", "minor").returncode == 0
    assert bump(workspace, "noether-core", "minor").returncode == 0
    downstream = tomllib.loads((workspace / "examples/downstream/pyproject.toml").read_text())
    train = downstream["project"]["optional-dependencies"]["train"]
    for name, listed in (
        ("noether-config", downstream["project"]["dependencies"]),
        ("noether-core", train),
    ):
        new = project(workspace, name)["version"]
        major, minor, _ = new.split(".")
        assert f"{name}>={new},<{major}.{int(minor) + 1}" in listed
    assert any(requirement.startswith(f"noether-trainers>={trainers},") for requirement in train)


def test_patch_and_explicit_versions(workspace: Path) -> None:
    core = project(workspace, "noether-core")["version"]
    major, minor, patch = (int(x) for x in core.split("."))
    assert bump(workspace, "noether-core", "patch").returncode == 0
    assert project(workspace, "noether-core")["version"] == f"{major}.{minor}.{patch + 1}"
    done = bump(workspace, "noether-core", "1.0.0")
    assert done.returncode == 0, done.stderr
    assert project(workspace, "noether-core")["version"] == "1.0.0"
    assert dependency(workspace, "noether-callbacks", "noether-core") == "noether-core>=1.0.0,<2"
    assert bump(workspace, "noether-core", "major").returncode == 0
    assert dependency(workspace, "noether-trainers", "noether-core") == "noether-core>=2.0.0,<3"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("noether-nothing", "minor"), "unknown package 'noether-nothing'"),
        (("noether-config", "0.0.1"), "is not greater than"),
        (("noether-config", "bigger"), "expected major, minor, patch or X.Y.Z"),
    ],
)
def test_bad_requests_exit_2_and_change_nothing(
    workspace: Path, args: tuple[str, str], message: str
) -> None:
    before = {p: p.read_text() for p in workspace.glob("packages/*/pyproject.toml")}
    done = bump(workspace, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert {p: p.read_text() for p in before} == before
