"""An unknown key gets the closest key that its schema allows there.

`every_n_epoch: 1` in a callback (or `max_epoch`, `weight_decai`, `filenam`, ...) was reported
as "unknown key (not allowed here)" with no hint of the key meant; the schema at the key's
place (its `kind` resolved as validation does) now supplies the closest allowed key.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Project = Callable[..., Path]
NOETHER_CONFIG = Path(sys.executable).parent / "noether-config"


def test_validate_suggests_the_closest_allowed_key(project: Project, valid_yaml: str) -> None:
    text = (
        valid_yaml.replace("  max_epochs: 2\n", "  max_epoch: 2\n")
        .replace("    lr: 1.0e-3\n", "    lr: 1.0e-3\n    weight_decai: 0.1\n")
        .replace("tracker: {kind: jsonl}", "tracker: {kind: jsonl, filenam: m.jsonl}")
        .replace(
            "  field_weights:",
            "  compile_options: {dynamc: true}\n"
            "  callbacks:\n"
            "    - {kind: checkpoint, every_n_epoch: 1}\n"
            "    - {kind: ema, every_n_epochs: 1, target_factors: [0.9], zzz: 1}\n"
            "    - {kind: no_such_kind, every_n_epoch: 1}\n"
            "  field_weights:",
        )
    )
    folder = project(**{"run.yaml": text})
    done = subprocess.run(
        [str(NOETHER_CONFIG), "validate", "run.yaml"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    unknown = "unknown key (not allowed here)"
    for key, meant in [
        ("trainer.max_epoch", "max_epochs"),
        ("model.optimizer.weight_decai", "weight_decay"),
        ("tracker.filenam", "filename"),
        ("trainer.compile_options.dynamc", "dynamic"),
        ("trainer.callbacks.0.every_n_epoch", "every_n_epochs"),
    ]:
        expected = f": {key}: {unknown}; did you mean {meant!r}?"
        assert any(line.endswith(expected) for line in lines), (expected, lines)
    # nothing close, or a kind that is not known: the plain message
    assert any(line.endswith(f": trainer.callbacks.1.zzz: {unknown}") for line in lines), lines
    assert any("trainer.callbacks.2.kind: unknown CallbackConfig kind" in line for line in lines)
