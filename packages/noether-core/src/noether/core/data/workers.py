"""Data-loader worker processes: seeded, and deaf to stop signals that are not their main's.

SLURM (`--signal`, the time limit, `scancel`) signals every process of a job step, and a
terminal's Ctrl-C every process of its foreground group, data workers included. The main
process owns the stop: it finishes the update (with the workers' batches) and writes its
checkpoint, then shuts the workers down. So a worker ignores SIGTERM / SIGINT from anyone
but its main process, and ends on its main process's SIGTERM (how torch and
multiprocessing stop workers that did not stop when asked). A worker also ends when its
main process is gone (torch's own watchdog).
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable

from noether.core.data.interleaved import seed_worker

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def worker_init_fn() -> Callable[[int], None]:
    """The `worker_init_fn` of the run's DataLoader, made in the main process (its pid)."""
    return functools.partial(init_worker, main_pid=os.getpid())


def init_worker(worker_id: int, main_pid: int) -> None:
    """Seeds the worker's RNGs and routes its stop signals (see the module)."""
    seed_worker(worker_id)
    if hasattr(signal, "sigwaitinfo"):  # POSIX; elsewhere signals keep their defaults
        # blocked in this thread and in every thread it starts, so only the waiter sees them
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        waiter = threading.Thread(
            target=_wait_for_stop_signals, args=(main_pid,), name="stop-signals", daemon=True
        )
        waiter.start()


def _wait_for_stop_signals(main_pid: int) -> None:
    """Ends the worker on its main process's SIGTERM; drops every other stop signal."""
    while True:
        info = signal.sigwaitinfo(STOP_SIGNALS)
        if info.si_signo == signal.SIGTERM and info.si_pid == main_pid:
            # a clean stop: torch's check of its workers (in the main process) reports any
            # other end, a death by the signal included, as a failed worker
            os._exit(0)
