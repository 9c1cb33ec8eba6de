"""A run's files take the mode of the user's umask, as files that `open` makes do.

Checkpoint files were written through `tempfile.mkstemp` and kept its 0600: on a shared
cluster whose users share a group (umask 002), a teammate could list a run's checkpoints
but not load them.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, environment, run_dirs, train_command


@pytest.mark.parametrize("umask", [0o002, 0o022])
def test_checkpoint_and_run_files_take_the_umasks_mode(tmp_path: Path, umask: int) -> None:
    done = subprocess.run(
        train_command(CONFIG, "trainer.max_epochs=1"),
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(umask),
    )
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(tmp_path)
    files = [path for path in run_dir.rglob("*") if path.is_file() and path.name != ".lock"]
    assert any(path.suffix == ".pt" for path in files), files
    modes = {str(path.relative_to(run_dir)): stat.S_IMODE(path.stat().st_mode) for path in files}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)
