"""`noether-config validate` without typer: same output and exit codes as the typer app.

`noether.config.cli.main` runs plain validate calls itself (start-up); every test here runs
both the console entry point and the typer app in real processes and compares what they print.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Project = Callable[..., Path]

# Both name themselves noether-config in usage lines, as the installed script does.
NAMED = "import sys; sys.argv[0] = 'noether-config'; "
ENTRY = NAMED + "from noether.config.cli import main; main()"
TYPER_APP = NAMED + "from noether.config.cli_app import app; app()"


def run(code: str, args: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def folder(project: Project, valid_yaml: str) -> Path:
    return project(
        **{
            "good.yaml": valid_yaml,
            "bad.yaml": valid_yaml.replace("max_epochs: 2", "max_epochs: two"),
            "broken.yaml": "name: x\ntrainer:\n  forward: [1, 2\n  y: 3\n",
            "tab.yaml": "name: x\n\tseed: 1\n",
            "_fragment.yaml": "seed: 1\n",
            "compose.yml": "services:\n  web: {image: nginx}\n",
        }
    )


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "good.yaml"],
        ["validate", "good.yaml", "bad.yaml", "broken.yaml", "tab.yaml"],
        ["validate", "."],
        ["validate", "--format", "json", "."],
        ["validate", "--format=github", "bad.yaml", "broken.yaml"],
        ["validate", "-o", "seed=x", "--override", "trainer.max_epochs=3", "good.yaml"],
        ["validate", "--override=trainer.max_epochs=-1", "good.yaml"],
        ["validate", "good.yaml", "trainer.max_epochs=-1", "seed=x"],
        ["validate", "good.yaml", "seed=x", "-o", "seed=1", "bad.yaml"],
        ["validate", "seed=1"],
        ["validate", "--root", ".", "--max-nodes", "50", "good.yaml"],
        ["validate", "--root=missing", "good.yaml"],
        ["validate", "--max-nodes=1000", "--max-nodes", "0", "good.yaml"],
        ["validate", "--max-nodes", "x", "good.yaml"],
        ["validate", "missing.yaml"],
        ["validate", "*.json"],
        ["validate", "_fragment.yaml"],
        ["validate"],
        ["validate", "--format", "xml", "good.yaml"],
        ["validate", "--bogus", "good.yaml"],
        ["validate", "-o"],
        ["validate", "--help"],
        ["validate", "--experiments-only", "."],
        ["validate", "good.yaml", "compose.yml", "--experiments-only", "--format", "json"],
        ["validate", "--experiments-only", "compose.yml"],
        ["validate", "--experiments-only=yes", "good.yaml"],
    ],
)
def test_entry_point_matches_typer_app(folder: Path, args: list[str]) -> None:
    fast = run(ENTRY, args, folder)
    slow = run(TYPER_APP, args, folder)
    assert fast == slow
    assert "Traceback" not in fast[1] + fast[2]


def test_plain_validate_imports_neither_typer_nor_package_metadata(
    project: Project, valid_yaml: str
) -> None:
    folder = project(**{"good.yaml": valid_yaml})
    code = (
        "import sys\n"
        "from noether.config.cli import main\n"
        "try:\n    main()\nexcept SystemExit as done:\n    print('exit', done.code)\n"
        "print(sorted(m for m in ('typer', 'click', 'importlib.metadata') if m in sys.modules))\n"
    )
    returncode, stdout, stderr = run(code, ["validate", "good.yaml"], folder)
    assert returncode == 0, stderr
    assert stdout.splitlines()[-2:] == ["exit 0", "[]"]


def test_pydantic_plugin_loader_stand_in_keeps_the_real_names() -> None:
    code = (
        "import os\n"
        "os.environ['PYDANTIC_DISABLE_PLUGINS'] = '1'\n"
        "from noether.config.cli import _skip_pydantic_plugin_loader\n"
        "_skip_pydantic_plugin_loader()\n"
        "from pydantic.plugin._loader import get_plugins\n"
        "print(list(get_plugins()))\n"
        "import pydantic.plugin._loader as loader\n"
        "print(loader.PYDANTIC_ENTRY_POINT_GROUP)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "pydantic"]
