"""A `loss_fn` import path that does not resolve stops `noether-train` before the run folder.

Validation checks a dotted path statically and cannot see names that a package re-exports
with `import *` (`torch.nn:L1Los` passed); the run then made its folder and failed while
building the trainer, with no line and no suggestion. The preflight imports the loss of
every `LossName` field (`noether.core.targets`), so the error names the file, line and key
and the closest name, and nothing is written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_a_misspelt_loss_path_is_named_before_anything_is_built(tmp_path: Path) -> None:
    """The run's preflight, which `--dry-run` runs too (test_train_cli_options.py)."""
    shutil.copytree(ROOT / "examples" / "quickstart", tmp_path, dirs_exist_ok=True)
    (tmp_path / "exp.yaml").write_text(
        "extends: config.yaml\ntrainer:\n  loss_fn: torch.nn:L1Los\n", encoding="utf-8"
    )
    validated = subprocess.run(
        [str(BIN / "noether-config"), "validate", "exp.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert validated.returncode == 0, validated.stdout  # `import *` hides the names statically
    done = subprocess.run(
        [str(BIN / "noether-train"), "exp.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "  exp.yaml:3: trainer.loss_fn: cannot import loss 'torch.nn:L1Los': module 'torch.nn' "
        "has no attribute 'L1Los'; did you mean 'L1Loss'"
    ) in done.stderr, done.stderr
    assert not (tmp_path / "runs").exists()
