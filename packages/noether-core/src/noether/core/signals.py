"""SIGTERM / SIGINT: finish the update, write a checkpoint, exit with a code that says so.

SIGTERM (what SLURM, Kubernetes and torchrun send before killing a job) is always caught;
SIGINT (Ctrl-C) only with `save_on_sigint`, else it interrupts at once. The first signal asks
the loop to stop after the current update and write a checkpoint named for the signal.

A second signal ends the process at once, as the signal would have without a handler (the
shell reports 128 + its number: 130 for SIGINT, 143 for SIGTERM), so a run stuck in an
update (a hung data loader or train_step) can always be ended: the loop would only read the
first request after that update. Files already written stay whole (checkpoints are published
by one rename). The exception is a repeat within `REPEAT_WINDOW_S` of the first signal: the
same stop delivered twice (the launcher and torchrun, or the terminal and torchrun, both
signal a worker), which only makes the run end as soon as its checkpoint is written
(after-training callbacks are skipped); a third signal then ends the process.

Under several ranks, all agree on the update at which they stop (`StopAgreement`), so one
checkpoint is written.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist

from noether.core.distributed import get_world_size
from noether.core.run_signals import EXIT_PREEMPTED as EXIT_PREEMPTED
from noether.core.run_signals import (
    begin_training,
    end_training,
    log_from_handler,
    say_before_dying,
)

_logger = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130
"""Exit code of a run interrupted by Ctrl-C without a checkpoint (128 + SIGINT)."""
REPEAT_WINDOW_S = 1.0
"""A second signal this soon after the first is the same stop delivered twice, not a user
insisting: it does not end the process (see the module docstring)."""


class StopRequest:
    """Set by the signal handler; the loop reads it between updates (no system call)."""

    def __init__(self) -> None:
        self.count = 0
        """Signals received so far."""
        self.signal_number = 0
        """The first signal received (0: none)."""
        self._first_at = 0.0

    @property
    def requested(self) -> bool:
        """Whether training should stop after the current update."""
        return self.count > 0

    @property
    def hurry(self) -> bool:
        """Whether a second signal asked to end right after the checkpoint."""
        return self.count > 1

    def within_repeat_window(self) -> bool:
        """Whether a signal now would be a repeat of the first (see `REPEAT_WINDOW_S`)."""
        return self.count > 0 and time.monotonic() - self._first_at < REPEAT_WINDOW_S

    @property
    def signal_name(self) -> str | None:
        """`SIGTERM` or `SIGINT`, once one was received."""
        return signal.Signals(self.signal_number).name if self.signal_number else None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        del frame
        now = time.monotonic()
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.signal_number = signum
            self._first_at = now
            log_from_handler(
                _logger,
                logging.WARNING,
                "received %s: stopping after this update, with a checkpoint "
                "(send it again to exit at once)",
                name,
            )
        elif self.count == 2 and now - self._first_at < REPEAT_WINDOW_S:
            first = self.signal_name
            again = "again" if name == first else f"after {first}"  # a launcher's own, often
            log_from_handler(
                _logger,
                logging.WARNING,
                "received %s %s: exiting once the checkpoint is written",
                name,
                again,
            )
        else:
            ordinal = "second" if self.count == 2 else "third"
            say_before_dying(f"received {name} a {ordinal} time: exiting now")
            _die_by(signum)


def _die_by(signum: int) -> None:
    """Ends the process as `signum` would without a handler (the parent sees the signal)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@contextmanager
def catch_stop_signals(save_on_sigint: bool) -> Iterator[StopRequest]:
    """Within the block, SIGTERM (and SIGINT when `save_on_sigint`) ask the loop to stop.

    Handlers can only be set in the main thread; elsewhere the signals keep their handlers.
    """
    global _last_request
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    begin_training()
    caught = [signal.SIGTERM, *([signal.SIGINT] if save_on_sigint else [])]
    previous = {sig: signal.getsignal(sig) for sig in caught}
    _last_request = (request, tuple(caught))
    for sig in caught:
        signal.signal(sig, request.handle)
    try:
        yield request
    finally:
        # noether-train's handler from here, when it runs; SIGINT too: after training (or
        # its KeyboardInterrupt) a Ctrl-C must not break the run's closing with a traceback
        interrupted = sys.exc_info()[0] is KeyboardInterrupt
        taken = {*caught, signal.SIGINT}
        after = end_training(request.count > 0 or interrupted, taken)
        if after is None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        else:
            for sig in taken:
                signal.signal(sig, after)


_last_request: tuple[StopRequest, tuple[signal.Signals, ...]] | None = None
"""The request of the last `catch_stop_signals` block and the signals it caught."""


def absorb_stop_repeats(exiting: bool = False) -> None:
    """After training stopped on a signal: a repeat of it still on its way (torchrun
    forwarding the signal its workers also got) must not end the process, which exits with
    `EXIT_PREEMPTED` once its tracker is closed, as if the signal had killed it (143).

    `noether-train` calls it when `train` returned, and with `exiting` just before it exits:
    the interpreter's teardown restores the default handlers, so from there a repeat within
    the window is ignored. Outside the window, or when no signal stopped the last training,
    nothing changes.
    """
    if _last_request is None or threading.current_thread() is not threading.main_thread():
        return
    request, caught = _last_request
    if not request.within_repeat_window():
        return
    for sig in caught:  # the training's handler: a repeat in the window is absorbed there
        signal.signal(sig, signal.SIG_IGN if exiting else request.handle)


class StopAgreement:
    """All ranks stop at the same update, without waiting on each other every update.

    Each update, the ranks' signal numbers are all-reduced (maximum) asynchronously on a CPU
    (gloo) group, and the result is read one update later: every rank reads the same result
    after the same update, so they stop together, one update after the signal reached any.
    The flag never leaves the host, so no device is waited for. In one process the request is
    read directly.
    """

    def __init__(self, request: StopRequest) -> None:
        self.request = request
        self._group: Any = None
        self._flag = torch.zeros(1, dtype=torch.int32)
        self._host_flag = self._flag.numpy()  # the same host memory, read without a tensor op
        self._work: Any = None
        self._distributed = get_world_size() > 1
        if self._distributed:
            self._group = dist.new_group(backend="gloo")

    def stop_signal(self) -> str | None:
        """After an update: the name of the signal all ranks agreed to stop on, or None."""
        if not self._distributed:
            return self.request.signal_name
        if self._work is not None:
            self._work.wait()
            self._work = None
            agreed = int(self._host_flag[0])
            if agreed:
                return signal.Signals(agreed).name
        self._flag.fill_(self.request.signal_number)
        self._work = dist.all_reduce(
            self._flag, op=dist.ReduceOp.MAX, group=self._group, async_op=True
        )
        return None

    def close(self) -> None:
        """Waits for the all-reduce in flight (every rank has one when training ends)."""
        if self._work is not None:
            self._work.wait()
            self._work = None
