"""SIGINT / SIGTERM handling: finish the current update, save, then stop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_logger = logging.getLogger(__name__)


class StopRequest:
    """Set by a signal handler; the loop checks `requested` between updates (no syscalls)."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        """Whether signals are caught at all (save_on_sigint)."""
        self.requested = False
        self.signal_name: str | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        _logger.warning("received %s: stopping after the current update", self.signal_name)


@contextmanager
def catch_stop_signals(enabled: bool) -> Iterator[StopRequest]:
    """Within the block, SIGINT / SIGTERM set a flag instead of killing the process.

    Only in the main thread (signal handlers cannot be set elsewhere) and only when enabled.
    A second signal while stopping is left to the previous handler's behaviour.
    """
    request = StopRequest(enabled)
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, request._handle)
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
