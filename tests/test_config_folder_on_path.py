"""The config's folder goes on sys.path after the standard library: a project's own
`logging.py` or `json.py` beside its config does not replace Python's modules.

Before, the folder went first and stayed there: `noether-config validate --format json`
failed with `internal error: AttributeError: module 'json' has no attribute 'dumps'`, and
`noether-train --dry-run` with a traceback from torch's `logging.getLogger`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_modules_beside_the_config_named_like_the_standard_librarys_do_not_replace_it(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "examples" / "quickstart", tmp_path, dirs_exist_ok=True)
    (tmp_path / "json.py").write_text("def save(x):\n    pass\n", encoding="utf-8")
    (tmp_path / "logging.py").write_text("def log_run():\n    pass\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # the config's folder is not the working directory
    validated = run(elsewhere, "noether-config", "validate", "--format", "json", "../config.yaml")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert json.loads(validated.stdout)  # the report, written by Python's json
    dry = run(elsewhere, "noether-train", "--dry-run", "../config.yaml")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Traceback" not in dry.stderr
    assert "dry run of ../config.yaml: nothing was written" in dry.stdout


def run(cwd: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
