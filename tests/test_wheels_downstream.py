"""The built wheels, installed alone into fresh venvs, as a downstream project uses them.

- every wheel carries its license, classifiers, project URLs, README and `py.typed`;
- examples/downstream trains from them (`pip install "./examples/downstream[train]"`);
- a downstream project's mypy sees noether as typed (no untyped-import errors, real types);
- the project's base install (no `[train]` extra) pulls no torch and validates its configs.

torch and the other dependencies are pinned to the workspace's versions, so uv takes them
from its cache (without a cache, torch is a download of several GB). Needs uv and a package
index or uv's cache; NOETHER_OFFLINE=1 skips it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOWNSTREAM = ROOT / "examples" / "downstream"
UV = shutil.which("uv")
MYPY = Path(sys.executable).with_name("mypy")
PACKAGES = ("noether-config", "noether-core", "noether-trainers", "noether-callbacks")

pytestmark = pytest.mark.skipif(
    os.environ.get("NOETHER_OFFLINE") == "1" or UV is None,
    reason="needs uv and a reachable package index (NOETHER_OFFLINE=1 skips)",
)

# Outside the workspace: no workspace venv, no PYTHONPATH, no uv project settings.
CLEAN_ENV = {
    key: value
    for key, value in os.environ.items()
    if key not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "MYPYPATH")
}


def run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env={**CLEAN_ENV, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def fresh_venv(folder: Path, *requirements: str | Path) -> Path:
    """A new venv at `folder` with `requirements` installed; returns its bin folder."""
    assert UV is not None
    made = run(UV, "venv", "--quiet", "--python", sys.executable, folder, cwd=folder.parent)
    assert made.returncode == 0, made.stderr
    python = folder / "bin" / "python"
    constraints = folder.parent / "constraints.txt"
    installed = run(
        *(UV, "pip", "install", "--python", python, "--constraint", constraints),
        *requirements,
        cwd=folder.parent,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return folder / "bin"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the workspace with dist/ (the four wheels) and constraints.txt."""
    assert UV is not None
    folder = tmp_path_factory.mktemp("outside")
    built = run(
        *(UV, "build", "--all-packages", "--wheel", "--project", ROOT),
        *("--out-dir", folder / "dist"),
        cwd=folder,
    )
    assert built.returncode == 0, built.stderr
    frozen = run(
        *(UV, "pip", "freeze", "--exclude-editable", "--python", sys.executable), cwd=folder
    )
    assert frozen.returncode == 0, frozen.stderr
    pins = [line for line in frozen.stdout.splitlines() if not line.startswith("noether")]
    (folder / "constraints.txt").write_text("\n".join(pins) + "\n")
    return folder


def wheels(work: Path) -> list[Path]:
    found = sorted((work / "dist").glob("noether_*.whl"))
    assert len(found) == len(PACKAGES), found
    return found


@pytest.fixture(scope="module")
def full_venv(work: Path) -> Path:
    """The downstream project with its `train` extra, the noether packages it names found
    among the four wheels (only those: the extra must name each one it needs): bin folder."""
    wheels(work)
    return fresh_venv(work / "venv", "--find-links", work / "dist", f"{DOWNSTREAM}[train]")


METADATA = """
import json, sys
from importlib.metadata import distribution

report = {}
for name in sys.argv[1:]:
    dist = distribution(name)
    files = [str(path) for path in dist.files or []]
    report[name] = {
        "license": dist.metadata.get("License-Expression"),
        "license_files": [f for f in files if f.endswith("/licenses/LICENSE")],
        "classifiers": dist.metadata.get_all("Classifier") or [],
        "urls": dist.metadata.get_all("Project-URL") or [],
        "readme_type": dist.metadata.get("Description-Content-Type"),
        "readme": dist.metadata.get_payload() or "",
        "py_typed": [f for f in files if f.endswith("py.typed")],
    }
print(json.dumps(report))
"""


def test_every_wheel_carries_license_classifiers_urls_readme_and_py_typed(
    full_venv: Path, work: Path
) -> None:
    done = run(full_venv / "python", "-c", METADATA, *PACKAGES, cwd=work)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for name in PACKAGES:
        meta = report[name]
        assert meta["license"] == "MIT", name
        assert len(meta["license_files"]) == 1, name
        assert "Typing :: Typed" in meta["classifiers"], name
        assert "Programming Language :: Python :: 3.11" in meta["classifiers"], name
        labels = {url.split(",")[0] for url in meta["urls"]}
        assert {"Homepage", "Documentation", "Source", "Issues"} <= labels, name
        assert meta["readme_type"] == "text/markdown", name
        assert meta["readme"].startswith(f"# {name}\n"), name
        assert len(meta["readme"]) > 1500, f"{name}: the README says too little"
        assert len(meta["py_typed"]) == 1, name
    license_text = (ROOT / "LICENSE").read_text()
    for name in PACKAGES:
        assert (ROOT / "packages" / name / "LICENSE").read_text() == license_text, name


def test_downstream_project_trains_from_the_wheels(full_venv: Path, work: Path) -> None:
    done = run(
        *(full_venv / "noether-train", DOWNSTREAM / "config.yaml"),
        *("trainer.max_epochs=null", "trainer.max_updates=4"),
        *("trainer.callbacks.0.every_n_epochs=null", "trainer.callbacks.0.every_n_updates=2"),
        f"output_path={work / 'runs'}",
        cwd=work,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (work / "runs" / "acme").iterdir()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert max(row["update"] for row in rows) == 4
    assert [row["update"] for row in rows if "loss/val/signal" in row] == [2, 4]
    assert "AcmeTrainer" in (run_dir / "train.log").read_text()
    # the code ran from the fresh venv, not from the workspace
    code = "import noether.core as c, acme_surrogates as a; print(c.__file__, a.__file__)"
    where = run(full_venv / "python", "-c", code, cwd=work)
    assert where.returncode == 0, where.stderr
    assert all(path.startswith(str(work / "venv")) for path in where.stdout.split())


# What a downstream project writes against noether's API, with mistakes mypy must see.
MISUSE = """\
from noether.callbacks.checkpoint import save_final_checkpoint
from noether.config import BaseTrainerConfig, ModelConfg
from noether.core import BaseTrainr
from noether.core.models import ModelBase
from noether.core.trainer import BaseTrainer
from noether.training.trainers import TrainerResult


class Trainer(BaseTrainer):  # lazily exported, still a class to mypy
    pass


def prepare(model: ModelBase) -> None:
    model.initialize("ten")


def epochs(config: BaseTrainerConfig) -> str:
    return config.max_epochs


def result() -> TrainerResult:
    return 3


def finish() -> None:
    save_final_checkpoint("now")
"""

MYPY_INI = """\
[mypy]
disallow_untyped_defs = True
warn_unused_ignores = True
# noether's own types are under test; torch's and numpy's are taken as Any (a minute less).
[mypy-torch.*,numpy.*]
follow_imports = skip
"""


def test_downstream_mypy_sees_noether_as_typed(full_venv: Path, work: Path) -> None:
    project = work / "mypy_project"
    shutil.copytree(DOWNSTREAM / "src" / "acme_surrogates", project / "acme_surrogates")
    (project / "misuse.py").write_text(MISUSE)
    (project / "mypy.ini").write_text(MYPY_INI)
    mypy = (MYPY, "--python-executable", full_venv / "python", "--cache-dir", work / "mypy")
    done = run(*mypy, "acme_surrogates", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 6 source files" in done.stdout
    done = run(*mypy, "misuse.py", cwd=project)
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert "import-untyped" not in done.stdout and "py.typed" not in done.stdout, done.stdout
    assert len(errors) == 6, done.stdout
    expected = [
        # a misspelt lazy export is an error, not Any
        'Module "noether.config" has no attribute "ModelConfg"',
        'Module "noether.core" has no attribute "BaseTrainr"',
        '"initialize" of "ModelBase" has incompatible type "str"; expected "int"',
        'Incompatible return value type (got "int | None", expected "str")',
        'Incompatible return value type (got "int", expected "TrainerResult")',
        'incompatible type "str"; expected "CallbackContext"',
    ]
    for error, message in zip(errors, expected, strict=True):
        assert message in error, done.stdout


def test_downstream_base_install_validates_configs_without_torch(work: Path) -> None:
    (config_wheel,) = (work / "dist").glob("noether_config-*.whl")
    bin_dir = fresh_venv(work / "venv_validate", config_wheel, DOWNSTREAM)
    listing = run(UV or "uv", "pip", "list", "--python", bin_dir / "python", cwd=work)
    names = {line.split()[0].lower() for line in listing.stdout.splitlines()[2:] if line}
    assert {"acme-surrogates", "noether-config", "pydantic"} <= names
    assert not names & {"torch", "numpy", "noether-core", "noether-trainers"}
    done = run(bin_dir / "noether-config", "validate", DOWNSTREAM / "config.yaml", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 file(s) checked: 1 valid, 0 invalid" in done.stdout
    bad = run(
        *(bin_dir / "noether-config", "validate", DOWNSTREAM / "config.yaml"),
        *("-o", "model.hidden_dim=0"),
        cwd=work,
    )
    assert bad.returncode == 1
    assert "model.hidden_dim: Input should be greater than or equal to 1" in bad.stdout
    kinds = run(bin_dir / "noether-config", "kinds", "trainers", "--json", cwd=work)
    rows = {row["kind"]: row for row in json.loads(kinds.stdout)}
    assert rows["acme_trainer"]["distribution"] == "acme-surrogates"
