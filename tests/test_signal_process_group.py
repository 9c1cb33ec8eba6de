"""A stop signal sent to the whole process group still stops the run with a checkpoint.

SLURM (`--signal`, the time limit, `scancel`) signals every process of a job step and Ctrl-C
every process of the terminal's foreground group, so the data-loader workers get the signal
too. The main process owns the stop: the workers must keep serving batches until it has
finished the update and written its checkpoint, not die and fail the run with a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, complete_checkpoints, environment, run_dirs, train_command


@pytest.mark.parametrize(
    ("sig", "args"),
    [(signal.SIGTERM, ()), (signal.SIGINT, ("trainer.save_on_sigint=true",))],
    ids=["sigterm", "sigint"],
)
def test_a_signal_to_the_process_group_stops_with_a_checkpoint_and_exit_75(
    tmp_path: Path, sig: signal.Signals, args: tuple[str, ...]
) -> None:
    process = subprocess.Popen(
        train_command(CONFIG, "num_workers=2", "trainer.max_epochs=1000", *args),
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a job step or a terminal's job
    )
    try:
        deadline = time.monotonic() + 120
        while not any("latest" in complete_checkpoints(d) for d in run_dirs(tmp_path)):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        os.killpg(process.pid, sig)  # the trainer and its data workers alike
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 75, stderr
    assert "Traceback" not in stderr
    (run_dir,) = run_dirs(tmp_path)
    stopped = [tag for tag in complete_checkpoints(run_dir) if tag.startswith(sig.name.lower())]
    assert len(stopped) == 1, sorted(complete_checkpoints(run_dir))
