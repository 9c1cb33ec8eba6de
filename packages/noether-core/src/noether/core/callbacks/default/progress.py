"""Training progress with throughput and ETA: a log line per interval, or a live terminal line."""

from __future__ import annotations

import logging
import sys
from time import perf_counter
from typing import Any, TextIO

from noether.core.callbacks.base import PeriodicCallback


def format_duration(seconds: float) -> str:
    """`H:MM:SS` (days as `Dd H:MM:SS`); `?` when unknown."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return "?"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


class ProgressCallback(PeriodicCallback):
    """One plain line per log interval: position, updates per second, elapsed time and ETA.

    The rate is measured since training (or the resumed part of it) started, so the ETA
    covers only the updates this process still has to run.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._start_time = 0.0
        self._start_update = 0

    def before_training(self) -> None:
        self._start_time = perf_counter()
        self._start_update = self.update_counter.update

    def progress_line(self, now: float | None = None) -> str:
        """E.g. `epoch 2/10 | update 460/1024 (44.9%) | 12.3 updates/s | 0:00:37 < 0:00:45`."""
        counter = self.update_counter
        elapsed = (perf_counter() if now is None else now) - self._start_time
        done = counter.update - self._start_update
        total = counter.total_updates
        remaining = max(total - counter.update, 0)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = remaining / rate if rate > 0 else float("nan")
        percent = 100.0 * counter.update / total if total else 100.0
        return (
            f"epoch {counter.epoch}/{counter.total_epochs} | "
            f"update {counter.update}/{total} ({percent:.1f}%) | "
            f"sample {counter.sample} | {rate:.2f} updates/s | "
            f"elapsed {format_duration(elapsed)} | ETA {format_duration(eta)}"
        )

    def periodic_callback(self) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(self.progress_line())


class TerminalProgressCallback(ProgressCallback):
    """A live progress line on a terminal, redrawn at most every `refresh_seconds`.

    Each log interval leaves its line in place (a newline), so the scrollback still shows
    the history; between them only a clock is read per update. A log record emitted while the
    live line is on screen first clears it (a filter on the root logger's handlers), so log
    lines never end up glued to the progress line; the next redraw brings it back.
    """

    def __init__(
        self,
        *args: Any,
        stream: TextIO | None = None,
        refresh_seconds: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream if stream is not None else sys.stdout
        self.refresh_seconds = refresh_seconds
        self._next_draw = 0.0
        self._drawn = False
        self._handlers: list[logging.Handler] = []

    def _clear_live_line(self, record: logging.LogRecord) -> bool:
        """Handler filter: wipes the live line before a log record is written; keeps all."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
        return True

    def _draw(self, now: float, end: str = "") -> None:
        self.stream.write("\r" + self.progress_line(now) + "\x1b[K" + end)
        self.stream.flush()
        self._drawn = not end
        self._next_draw = now + self.refresh_seconds

    def before_training(self) -> None:
        super().before_training()
        self._next_draw = self._start_time + self.refresh_seconds
        self._handlers = list(logging.getLogger().handlers)
        for handler in self._handlers:
            handler.addFilter(self._clear_live_line)

    def track_after_update_step(self, losses: Any, timings: Any) -> None:
        now = perf_counter()
        if now >= self._next_draw:
            self._draw(now)

    def periodic_callback(self) -> None:
        self._draw(perf_counter(), end="\n")

    def after_training(self) -> None:
        for handler in self._handlers:
            handler.removeFilter(self._clear_live_line)
        self._handlers = []
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
