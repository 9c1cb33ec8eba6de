"""The console entry point prints what the typer app prints, start-up tricks on or off.

`noether.config.cli.main` runs the typer app inside the start-up tricks of
`noether.config.startup`; every test here runs both in real processes and compares what they
print.
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


@pytest.mark.parametrize("switch", ["plain", "gc", "plugins", "docstrings"])
@pytest.mark.parametrize(
    "args",
    [["validate", "--format", "json", "."], ["schema", "trackers"]],
)
def test_start_up_tricks_change_no_output(
    folder: Path, args: list[str], switch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOETHER_CONFIG_STARTUP", raising=False)
    with_tricks = run(ENTRY, args, folder)
    monkeypatch.setenv("NOETHER_CONFIG_STARTUP", switch)
    assert run(ENTRY, args, folder) == with_tricks
