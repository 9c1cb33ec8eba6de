"""Fixtures shared by the cross-package tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def downstream_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/downstream installed with `uv pip install --target` into a folder to put on
    PYTHONPATH: its kinds are found by entry points, the workspace environment stays untouched."""
    uv = shutil.which("uv")
    assert uv is not None, "this test installs the example with uv; put uv on PATH"
    site = tmp_path_factory.mktemp("downstream_site")
    done = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--python",
            sys.executable,
            "--no-deps",
            "--target",
            str(site),
            str(ROOT / "examples" / "downstream"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "acme_surrogates" / "trainer.py").is_file()
    return site
