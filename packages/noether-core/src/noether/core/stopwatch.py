"""Stopwatch: how long something took, in the shape the seed's `update()` returns timings."""

from __future__ import annotations

from time import perf_counter
from types import TracebackType


class Stopwatch:
    """Accumulates elapsed wall time (`perf_counter`) over one or more start/stop intervals.

    The loop measures one update's phases itself and hands them on as stopwatches that already
    hold their time (`Stopwatch(0.0123)`), so the hot path pays one small object per phase.

    Example:
        >>> watch = Stopwatch()
        >>> with watch:
        ...     pass
        >>> watch.elapsed_seconds >= 0.0
        True
    """

    __slots__ = ("_start", "elapsed_seconds")

    def __init__(self, elapsed_seconds: float = 0.0) -> None:
        self.elapsed_seconds = elapsed_seconds  # of all finished intervals
        self._start: float | None = None

    @property
    def is_running(self) -> bool:
        return self._start is not None

    @property
    def elapsed_milliseconds(self) -> float:
        return self.elapsed_seconds * 1e3

    def start(self) -> Stopwatch:
        """Starts an interval (the stopwatch must not be running)."""
        if self._start is not None:
            raise RuntimeError("the stopwatch is already running")
        self._start = perf_counter()
        return self

    def stop(self) -> float:
        """Ends the running interval; returns the total elapsed seconds."""
        if self._start is None:
            raise RuntimeError("the stopwatch is not running")
        self.elapsed_seconds += perf_counter() - self._start
        self._start = None
        return self.elapsed_seconds

    def add(self, seconds: float) -> None:
        """Adds time measured elsewhere (e.g. the micro-batches of one update)."""
        self.elapsed_seconds += seconds

    def __enter__(self) -> Stopwatch:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __float__(self) -> float:
        return self.elapsed_seconds

    def __repr__(self) -> str:
        state = ", running" if self._start is not None else ""
        return f"Stopwatch({self.elapsed_seconds:.6f} s{state})"
