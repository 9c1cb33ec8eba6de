"""Data-loader worker processes: seeded, and deaf to stop signals that are not their main's.

SLURM (`--signal`, the time limit, `scancel`) signals every process of a job step, and a
terminal's Ctrl-C every process of its foreground group, data workers included. The main
process owns the stop: it finishes the update (with the workers' batches) and writes its
checkpoint, then shuts the workers down. So a worker ignores SIGTERM / SIGINT from anyone
but its main process, and ends on its main process's SIGTERM (how torch and
multiprocessing stop workers that did not stop when asked). A worker also ends as soon as
its main process is gone (killed with -9, out of memory): on Linux the kernel kills it then
(`end_with_parent`), where torch's own watchdog would let it load on for up to 5 seconds.

A worker's connection to its main process that breaks off is the main process's doing (it
stopped reading, failed, or is ending the workers): it reports why, and the worker's threads
print no traceback of their own about it (`quiet_lost_connections`).

When training ends (done, stopped by a signal, failed), `stop_workers` ends the workers at
once: torch's own shutdown lets each worker finish the batch it is loading, up to 5 seconds
per worker, batches that nobody reads (with slow items, a stopped run exited long after
its checkpoint, past a job's grace period).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from typing import Any

from noether.core.data.interleaved import seed_worker

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

PR_SET_PDEATHSIG = 1
"""prctl(2): the signal this process gets when the thread that started it ends."""


class WorkerInit:
    """The `worker_init_fn` of the run's DataLoader, made in the main process: initializes
    each worker (`init_worker`) and records its pid, so that `stop` can end them.

    Args:
        num_workers: the loader's worker processes.
    """

    def __init__(self, num_workers: int) -> None:
        self.main_pid = os.getpid()
        # shared memory, inherited by the workers (they start with this object)
        self.pids: Any = multiprocessing.RawArray("q", num_workers)

    def __call__(self, worker_id: int) -> None:
        init_worker(worker_id, self.main_pid)
        self.pids[worker_id] = os.getpid()  # once it ends on its main's SIGTERM

    def stop(self) -> None:
        """Ends the workers now, whatever they are loading (see the module): SIGTERM to
        each that is still a child of this process."""
        registered = {pid for pid in self.pids if pid}
        for child in multiprocessing.active_children():
            if child.pid in registered:
                child.terminate()


def stop_workers(loader: Any) -> None:
    """Ends the data workers of a DataLoader made by `build_run_loader` now, without waiting
    for the batches they are loading; nothing for other loaders and without workers."""
    init = getattr(loader, "worker_init_fn", None)
    if isinstance(init, WorkerInit):
        init.stop()


def ignore_worker_exits() -> None:
    """After a run failed: torch's SIGCHLD handler no longer raises for the data workers that
    the failure or `stop_workers` ended. It raised in the middle of the failure's report
    (a raw traceback on the console). For a process about to exit (`noether-train`)."""
    if hasattr(signal, "SIGCHLD") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def init_worker(worker_id: int, main_pid: int) -> None:
    """Seeds the worker's RNGs and routes its stop signals (see the module)."""
    seed_worker(worker_id)
    end_with_parent(main_pid)
    quiet_lost_connections()
    if hasattr(signal, "sigwaitinfo"):  # POSIX; elsewhere signals keep their defaults
        # blocked in this thread and in every thread it starts, so only the waiter sees them
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        waiter = threading.Thread(
            target=_wait_for_stop_signals, args=(main_pid,), name="stop-signals", daemon=True
        )
        waiter.start()


def end_with_parent(main_pid: int) -> None:
    """On Linux, has the kernel kill this worker when its main process ends, whatever ends it.

    Only for a worker that the main process started itself (fork or spawn; a forkserver's
    worker has another parent, and keeps torch's watchdog). A main process that ended before
    this call has left the worker to another parent: it exits at once.
    """
    if not sys.platform.startswith("linux") or os.getppid() != main_pid:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != main_pid:  # gone between the check and prctl
        os._exit(0)


def quiet_lost_connections() -> None:
    """Drops the traceback of a connection to the main process that broke off in a thread of
    this worker; any other error keeps it.

    multiprocessing hands a batch's tensors to the main process over a connection that a
    thread of the worker serves, and prints (`sys.excepthook`) any error of that thread. The
    main process that fails while it reads one batch (torch raises from its SIGCHLD handler
    when a sibling worker dies) cuts that connection: the console showed a raw traceback of a
    worker that did nothing wrong next to the main process's report.
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, trace: Any) -> None:
        lost = issubclass(kind, (EOFError, ConnectionError))
        if not (lost and threading.current_thread() is not threading.main_thread()):
            previous(kind, error, trace)

    sys.excepthook = hook


def _wait_for_stop_signals(main_pid: int) -> None:
    """Ends the worker on its main process's SIGTERM; drops every other stop signal."""
    while True:
        info = signal.sigwaitinfo(STOP_SIGNALS)
        if info.si_signo == signal.SIGTERM and info.si_pid == main_pid:
            # a clean stop: torch's check of its workers (in the main process) reports any
            # other end, a death by the signal included, as a failed worker
            os._exit(0)
