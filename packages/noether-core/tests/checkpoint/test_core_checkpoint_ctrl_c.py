"""Ctrl-C during a checkpoint write: the write runs to its end, then KeyboardInterrupt.

Raised inside `torch.save`, it failed torch's writer, which reported its own RuntimeError
("unexpected pos"): the run ended as a failure (exit 1) instead of as interrupted (130).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import torch
    from noether.core.checkpoint import safe_files

    real_save, finished = torch.save, []

    def save_hit_by_ctrl_c(obj, file):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the file is being written
        real_save(obj, file)
        finished.append(True)

    torch.save = save_hit_by_ctrl_c
    try:
        safe_files.save_file({"w": torch.ones(3)}, Path(sys.argv[1]))
    except KeyboardInterrupt:
        print("interrupted", bool(finished), sorted(os.listdir(Path(sys.argv[1]).parent)))
    """
)


def test_ctrl_c_in_a_checkpoint_write_interrupts_after_the_write(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(target)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "interrupted True []", done.stdout + done.stderr
