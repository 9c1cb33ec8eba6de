"""Training progress with throughput and ETA: a log line per interval, and on a terminal a
live progress bar drawn by rich."""

from __future__ import annotations

import atexit
import io
import logging
import sys
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

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


@dataclass(frozen=True)
class ProgressState:
    """Where training stands and how fast it goes."""

    epoch: int
    total_epochs: int
    update: int
    total_updates: int
    sample: int
    rate: float
    """Updates per second since training (or its resumed part) started."""
    elapsed: float
    eta: float
    """Seconds left at `rate` (NaN before the first update)."""

    @property
    def percent(self) -> float:
        return 100.0 * self.update / self.total_updates if self.total_updates else 100.0


class ProgressCallback(PeriodicCallback):
    """One plain line per log interval: position, updates per second, elapsed time and ETA.

    The rate is measured since training (or the resumed part of it) started, so the ETA
    covers only the updates this process still has to run. Its checkpoint key is
    `ProgressCallback` for the live bar too, so a run started on a terminal resumes piped
    (and the other way round) without a warning about callback states.

    Args:
        quiet: logs nothing (the other ranks of a multi-process run, which keep one so that
            their callbacks match the checkpoint's).
    """

    def __init__(self, *args: Any, quiet: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config is None:  # a default callback: one key whether drawn or logged
            self.state_key = ProgressCallback.__name__
        self.quiet = quiet
        self._start_time = 0.0
        self._start_update = 0

    def before_training(self) -> None:
        self._start_time = perf_counter()
        self._start_update = self.update_counter.update

    def progress_state(self, now: float | None = None) -> ProgressState:
        """The position, rate and ETA at `now` (a `perf_counter` time; default: now)."""
        counter = self.update_counter
        elapsed = (perf_counter() if now is None else now) - self._start_time
        done = counter.update - self._start_update
        remaining = max(counter.total_updates - counter.update, 0)
        rate = done / elapsed if elapsed > 0 else 0.0
        return ProgressState(
            epoch=counter.epoch,
            total_epochs=counter.total_epochs,
            update=counter.update,
            total_updates=counter.total_updates,
            sample=counter.sample,
            rate=rate,
            elapsed=elapsed,
            eta=remaining / rate if rate > 0 else float("nan"),
        )

    def progress_line(self, now: float | None = None) -> str:
        """E.g. `epoch 2/10 | update 460/1024 (44.9%) | 12.3 updates/s | 0:00:37 < 0:00:45`."""
        state = self.progress_state(now)
        return (
            f"epoch {state.epoch}/{state.total_epochs} | "
            f"update {state.update}/{state.total_updates} ({state.percent:.1f}%) | "
            f"sample {state.sample} | {state.rate:.2f} updates/s | "
            f"elapsed {format_duration(state.elapsed)} | ETA {format_duration(state.eta)}"
        )

    def periodic_callback(self) -> None:
        if not self.quiet and self.logger.isEnabledFor(logging.INFO):
            self.logger.info(self.progress_line())


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


class LinesAboveBar(io.TextIOBase):
    """A text stream whose lines rich writes above its live display, as they are (not wrapped:
    a long log line stays one line)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self.console.out(line, highlight=False)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.console.out(self._partial, highlight=False)
            self._partial = ""


class TerminalProgressCallback(ProgressCallback):
    """On a terminal: a live rich progress bar, redrawn at most every `refresh_seconds`, and
    the plain line of `ProgressCallback` logged at each log interval.

    The logged lines stay in the scrollback (and in train.log). While the bar is on screen,
    records of the logging handlers that write to a terminal, and anything printed, go
    through rich above the bar, so nothing is glued to it. Between redraws only a clock is
    read per update. The bar is taken down after training, or at exit when training ended
    early with an error.

    Args:
        stream: where the bar is drawn (default: stdout); not a terminal: drawn once at the end.
        refresh_seconds: shortest time between two redraws.
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
        self._progress: Progress | None = None
        self._task = TaskID(0)
        self._redirected: list[tuple[logging.StreamHandler[Any], Any]] = []

    def before_training(self) -> None:
        super().before_training()
        console = Console(file=self.stream)
        on_stdout = self.stream is sys.stdout  # prints and stderr go to the same terminal
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[rate]} updates/s"),
            TextColumn("{task.fields[elapsed]} ETA {task.fields[eta]}"),
            console=console,
            expand=True,
            auto_refresh=False,
            redirect_stdout=on_stdout,
            redirect_stderr=on_stdout and _isatty(sys.stderr),
        )
        self._task = self._progress.add_task("train", **self._fields(self._start_time))
        self._progress.start()
        atexit.register(self._stop)
        if console.is_terminal:
            self._redirect_terminal_handlers(console)
        self._next_draw = self._start_time + self.refresh_seconds

    def _fields(self, now: float) -> dict[str, Any]:
        state = self.progress_state(now)
        return {
            "completed": state.update,
            "total": state.total_updates,
            "epoch": f"{state.epoch}/{state.total_epochs}",
            "rate": f"{state.rate:.2f}",
            "elapsed": format_duration(state.elapsed),
            "eta": format_duration(state.eta),
        }

    def _redirect_terminal_handlers(self, console: Console) -> None:
        """Console log handlers on a terminal write through rich, above the bar."""
        for handler in logging.getLogger().handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and _isatty(handler.stream)
            ):
                self._redirected.append((handler, handler.setStream(LinesAboveBar(console))))

    def _draw(self, now: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, refresh=True, **self._fields(now))
        self._next_draw = now + self.refresh_seconds

    def track_after_update_step(self, losses: Any, timings: Any) -> None:
        now = perf_counter()
        if now >= self._next_draw:
            self._draw(now)

    def periodic_callback(self) -> None:
        super().periodic_callback()
        self._draw(perf_counter())

    def _stop(self) -> None:
        for handler, stream in self._redirected:
            handler.setStream(stream)
        self._redirected = []
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def after_training(self) -> None:
        if self._progress is not None:
            self._draw(perf_counter())
        self._stop()
        atexit.unregister(self._stop)
