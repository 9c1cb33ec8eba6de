"""kill -9 of `noether-train` ends its data-loader workers at once.

A killed main process (kill -9, the out-of-memory killer) cannot stop its workers; torch's
own watchdog in each worker noticed only after up to 5 seconds (and a worker loading a slow
item later still), so they kept loading for nobody, holding memory and files.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, complete_checkpoints, environment, run_dirs, train_command


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_the_workers_end_within_a_second_of_a_kill_9_of_the_main_process(
    tmp_path: Path,
) -> None:
    process = subprocess.Popen(
        train_command(CONFIG, "num_workers=2", "trainer.max_epochs=1000"),
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any("latest" in complete_checkpoints(d) for d in run_dirs(tmp_path)):
            assert process.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        listed = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
        workers = [int(pid) for pid in listed.stdout.split()]
        assert len(workers) == 2, listed
        process.kill()
        process.wait()
        killed = time.monotonic()
        while any(alive(pid) for pid in workers) and time.monotonic() - killed < 4:
            time.sleep(0.02)
        assert not any(alive(pid) for pid in workers), "workers outlived their main process"
        assert time.monotonic() - killed < 1
    finally:
        with contextlib.suppress(ProcessLookupError):  # nothing of the group may be left
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
