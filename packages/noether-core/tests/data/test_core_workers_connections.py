"""A data worker prints no traceback for a connection that its main process cut off (the
main process reports why), and keeps every other traceback."""

from __future__ import annotations

import subprocess
import sys

WORKER = """
import sys, threading
from noether.core.data.workers import quiet_lost_connections

quiet_lost_connections()

def serve(error):
    # as multiprocessing's thread that hands tensors to the main process reports its errors
    try:
        raise error
    except BaseException:
        sys.excepthook(*sys.exc_info())

for error in (
    EOFError(), ConnectionResetError(104, "reset"), BrokenPipeError(32, "pipe"),
    ValueError("bad mesh"),
):
    thread = threading.Thread(target=serve, args=(error,))
    thread.start()
    thread.join()
print("worker went on", flush=True)
raise EOFError("main thread")
"""


def test_only_a_connection_cut_off_in_a_workers_thread_prints_no_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER], capture_output=True, text=True, timeout=120
    )
    assert done.stdout == "worker went on\n"
    assert done.returncode == 1
    assert done.stderr.count("Traceback") == 2, done.stderr
    assert "ValueError: bad mesh" in done.stderr  # another error of a thread
    assert "EOFError: main thread" in done.stderr  # the worker's own end
    assert "reset" not in done.stderr and "pipe" not in done.stderr
