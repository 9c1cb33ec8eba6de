"""SIGTERM outside the training loop: before it starts and after it ended.

`BaseTrainer.train` catches SIGTERM while it trains (see `noether.core.signals`). A run also
spends time before that (importing, reading the config, the rendezvous, building datasets
and the model, restoring a checkpoint) and after it (closing the tracker, leaving the process
group). Without a handler there, SIGTERM killed the process and the shell reported 143, so a
requeue script that resumes on 75 (the documented contract) dropped a job pre-empted while it
started, and a run that had trained to its end was reported as killed.

`noether-train` holds `stop_signals_around_training` for its whole run:

- before training, SIGTERM raises `StoppedBeforeTraining` at once (nothing is half-trained:
  the run folder holds no checkpoint of this start), which the command reports and turns
  into exit code 75, so `--resume` (or a fresh start when no run folder was made) follows;
- after training, a first SIGTERM (or SIGINT with `save_on_sigint`, which training caught as
  well) is noted and the run finishes closing with the exit code it had; a second (or a
  first after training stopped on a signal) ends the process at once;
- once the exit code is decided, `exiting` lets a first of those signals pass during the
  interpreter's teardown, which would otherwise restore the default handlers (a kill by the
  signal); a second ends the process with that exit code. After the last atexit hook
  (`after_exit_hooks`), where Python runs no handler any more, they are ignored.

This module imports no torch, so the handler is in place before torch is imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_logger = logging.getLogger("noether.train")


def log_from_handler(logger: logging.Logger, level: int, message: str, *args: object) -> None:
    """Logs a signal handler's message from a short-lived thread.

    A handler runs inside whatever the main thread was doing, which may be writing a log line
    to the same stream (a write blocked on a full pipe is interrupted by the signal): logging
    there again re-enters the stream, which raises ("reentrant call inside BufferedWriter")
    and prints a traceback. The thread logs once that write is done (it waits for the log
    handler's lock); the interpreter waits for it before it exits.
    """
    thread = threading.Thread(target=logger.log, args=(level, message, *args), daemon=False)
    thread.start()


def say_before_dying(message: str) -> None:
    """A handler's last words before it ends the process: written straight to stderr's file
    descriptor (a thread might not run before the end, and the stream may be mid-write).
    Every rank of a job gets the signal, so it carries the rank but on rank 0, as the run's
    log lines do (torchrun and `noether-train` under srun set RANK)."""
    rank = os.environ.get("RANK", "0")
    prefix = "" if rank in ("", "0") else f"[rank {rank}] "
    with contextlib.suppress(OSError):
        os.write(2, f"{prefix}noether-train: {message}\n".encode())


EXIT_PREEMPTED = 75
"""Exit code of a run stopped by a signal (after writing its checkpoint when it was
training; sysexits' EX_TEMPFAIL: try again): a requeue script resumes it, while 0 means the
run finished."""


class StoppedBeforeTraining(BaseException):
    """SIGTERM arrived before training began (a BaseException, as KeyboardInterrupt is, so
    that no `except Exception` of a build step reports it as a failure)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"{signal_name} before training began")
        self.signal_name = signal_name


class RunSignals:
    """The handler of SIGTERM outside `BaseTrainer.train`; see the module docstring."""

    def __init__(self) -> None:
        self.training_ended = False
        """Whether training returned (signals are then noted, not raised)."""
        self.stopped_by_signal = False
        """Whether this process got a signal while training (another one ends it at once)."""
        self.received = 0
        """Signals received since training ended."""
        self.stopped_before: str | None = None
        """The signal that stopped the run before training began: its exception is lost when
        the handler ran inside a garbage-collection callback or a `__del__` (Python only
        prints it), so `begin_training` raises it again."""

    def end_training(self, stopped_by_signal: bool) -> None:
        """From now on a signal lets the run finish closing (see the module docstring)."""
        self.training_ended = True
        self.stopped_by_signal = stopped_by_signal

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        del frame
        name = signal.Signals(signum).name
        if not self.training_ended:
            self.stopped_before = name
            raise StoppedBeforeTraining(name)
        self.received += 1
        if self.stopped_by_signal or self.received > 1:
            say_before_dying(f"received {name} again after training ended: exiting now")
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        log_from_handler(
            _logger,
            logging.WARNING,
            "received %s after training ended: finishing the run's shutdown "
            "(send it again to exit at once)",
            name,
        )


_active: RunSignals | None = None
"""The handler of the `stop_signals_around_training` block in progress."""
_handled: set[int] = set()
"""The signals a block handled (SIGTERM, and those `end_training` took over), for `exiting`."""


@contextmanager
def stop_signals_around_training() -> Iterator[RunSignals]:
    """Within the block, SIGTERM is handled by a `RunSignals` (main thread only)."""
    global _active
    handler = RunSignals()
    if threading.current_thread() is not threading.main_thread():
        yield handler
        return
    previous: dict[signal.Signals, Any] = {
        sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    _active = handler
    _handled.add(signal.SIGTERM)
    signal.signal(signal.SIGTERM, handler.handle)
    try:
        yield handler
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)
        _active = None


def begin_training() -> None:
    """Called by `catch_stop_signals` before training takes over the signals.

    Raises:
        StoppedBeforeTraining: a signal stopped the run before, and its exception was lost
            (see `RunSignals.stopped_before`).
    """
    raise_if_stopped_before()


def raise_if_stopped_before() -> None:
    """Raises `StoppedBeforeTraining` again when a signal stopped the run before training
    and its exception was lost (see `RunSignals.stopped_before`): a step that failed after
    that failed because of it (a peer that the signal ended), and is said as the stop."""
    if _active is not None and _active.stopped_before is not None:
        raise StoppedBeforeTraining(_active.stopped_before)


@contextmanager
def stop_signals_deferred() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT are only noted; the first is sent again when the
    block ends, to the handler in place then. For `import torch`: torch's C start-up imports
    numpy and drops any exception raised there, so a handler's StoppedBeforeTraining or
    KeyboardInterrupt was lost, and the run went on as if no signal had come. Main thread
    only (elsewhere Python runs no handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    stops = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in stops}
    for sig in stops:
        signal.signal(sig, lambda signum, frame: noted.append(signum))
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)
    if noted:
        signal.raise_signal(noted[0])


def end_training(
    signalled: bool, caught: Iterable[int]
) -> Callable[[int, FrameType | None], None] | None:
    """Training ended (`signalled`: this process got a stop signal while it trained).

    Called by `catch_stop_signals`, which then installs the returned handler for the signals
    it `caught` (SIGTERM, and SIGINT with `save_on_sigint`), so that from now on they let the
    run close. None outside a `stop_signals_around_training` block.
    """
    if _active is None:
        return None
    _active.end_training(signalled)
    _handled.update(caught)
    return _active.handle


def exiting(code: int) -> None:
    """`noether-train` calls it when its exit code is decided, just before it exits.

    The interpreter's teardown (joining data workers, atexit hooks; often a second or more)
    restores the default handlers, so a signal there would kill a process that is done and
    turn its exit code into 143 (or 130). From here a first signal of those a run handled is
    let pass; a second ends the process at once with `code` (a teardown that hangs can still
    be stopped, and says what the run did).
    """
    global _exit_code
    _exit_code = code
    if threading.current_thread() is not threading.main_thread():
        return
    received = 0

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        del signum, frame
        received += 1
        if received > 1:
            os._exit(code)

    for sig in _handled:
        signal.signal(sig, handle)
    _passing.update(_handled)
    _handled.clear()


_passing: set[int] = set()
"""The signals that `exiting` lets pass."""
_exit_code: int | None = None
"""The exit code that `exiting` was given (None before)."""
_skip_teardown = False
"""Set by `skip_teardown`: `after_exit_hooks` ends the process with the exit code."""


def exit_code() -> int | None:
    """The exit code `noether-train` decided on (see `exiting`); None before it did."""
    return _exit_code


def skip_teardown() -> None:
    """Asks `after_exit_hooks` to end the process with the decided exit code, once every
    Python exit hook has run, instead of finalizing the interpreter.

    A rank of a job of several processes calls it when it meets the others. Torch's C++
    threads (the rendezvous store's, gloo's, DDP's reducer's) can outlive the objects that
    the finalization destroys and then abort the process ("terminate called without an
    active exception", exit code 134): seen for a rank that failed with its process group
    open (1 in 8 two-rank runs on a loaded host), a rank stopped while the ranks met, and
    rarely a finished run. A launcher then reports a crash instead of the run's own code.
    """
    global _skip_teardown
    _skip_teardown = True


def after_exit_hooks() -> None:
    """`noether-train`'s last exit hook (registered first, so it runs after every other
    atexit hook): from here the interpreter finalizes, runs no Python signal handler and puts
    the default ones back, so a signal that `exiting` let pass would kill the process (143)
    at the very end. These signals are ignored for the rest of the teardown (SIGKILL still
    ends it), or the process ends here (see `skip_teardown`)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in _passing:
        signal.signal(sig, signal.SIG_IGN)
    if _skip_teardown and _exit_code is not None:
        _exit_at_once(_exit_code)


def _exit_at_once(code: int) -> None:
    """Ends the process with `code`, its logs and output flushed, skipping the interpreter's
    finalization (and any exit hook not run yet)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
