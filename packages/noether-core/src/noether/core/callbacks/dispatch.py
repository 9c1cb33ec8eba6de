"""One way to call callbacks: every callback runs, the first error wins, early stops are noted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from operator import methodcaller
from typing import Any, TypeVar

from noether.core.build import BuildError
from noether.core.callbacks.base import CallbackBase, PeriodicCallback
from noether.core.run_logging import details_logger
from noether.core.trainer.types import EarlyStopIteration

CallbackT = TypeVar("CallbackT", bound=CallbackBase)

NEVER = sys.maxsize
"""Next due update of a callback that only runs at epoch ends."""


class CallbackDispatcher:
    """Calls a hook on callbacks with one error policy.

    A callback that raises does not keep the others from running; when all ran, `on_error`
    runs (the trainer writes an error checkpoint) and the first error is re-raised. A callback
    that raises EarlyStopIteration asks training to stop cleanly; the others still run. No
    traceback reaches the console: the first error's goes with it, a later one's to the
    `noether.train.details` logger (the run's log file).

    Args:
        logger: where errors and early stops are reported.
        on_error: called once before the first error is re-raised.
    """

    def __init__(self, logger: logging.Logger, on_error: Callable[[], None]) -> None:
        self.logger = logger
        self.on_error = on_error

    def dispatch(self, callbacks: Sequence[CallbackT], call: Callable[[CallbackT], object]) -> bool:
        """`call(callback)` for every callback; True when one asked to stop."""
        stop = False
        first_error: Exception | None = None
        for callback in callbacks:
            try:
                call(callback)
            except EarlyStopIteration:
                self.logger.info("%s stopped training early", callback)
                stop = True
            except BuildError as error:  # bad input: its message is reported, no traceback
                self.logger.error("error in callback %s; running the others first", callback)
                if first_error is None:
                    first_error = error
            except Exception as error:
                # the first error is re-raised (its traceback reported once, by whoever
                # catches it); a later one is named here, its traceback in the log file only
                if first_error is None:
                    self.logger.error("error in callback %s; running the others first", callback)
                    first_error = error
                else:
                    name = type(error).__name__
                    self.logger.error("another error in callback %s: %s: %s", callback, name, error)
                    details_logger.error("traceback of the error above", exc_info=error)
        if first_error is not None:
            self.on_error()
            raise first_error
        return stop

    def call_hook(self, callbacks: Sequence[CallbackBase], hook: str, *args: Any) -> bool:
        """`callback.<hook>(*args)` for every callback; True when one asked to stop."""
        return self.dispatch(callbacks, methodcaller(hook, *args))


def overrides(callback: CallbackBase, hook: str) -> bool:
    """Whether the callback's class implements `hook` (the loop calls only those)."""
    return getattr(type(callback), hook) is not getattr(PeriodicCallback, hook)


class DueSchedule:
    """The next update at which each periodic callback may be due, so that after an update
    only the callbacks whose time has come are asked (one integer compare when none is)."""

    def __init__(self, callbacks: Sequence[PeriodicCallback], update: int) -> None:
        self.callbacks = list(callbacks)
        self._next = [self._next_due(cb, update) for cb in self.callbacks]
        self.next_any = min(self._next, default=NEVER)

    @staticmethod
    def _next_due(callback: PeriodicCallback, update: int) -> int:
        due = callback.next_update_due()
        return NEVER if due is None else max(due, update + 1)

    def take_due(self, update: int) -> list[PeriodicCallback]:
        """The callbacks whose next due update has come (in list order), each rescheduled
        from `update` on (the counters do not move while they run)."""
        if update < self.next_any:
            return []
        due = []
        for index, (callback, at) in enumerate(zip(self.callbacks, self._next, strict=True)):
            if at <= update:
                due.append(callback)
                self._next[index] = self._next_due(callback, update)
        self.next_any = min(self._next)
        return due
