"""The `jsonl` tracker: one JSON object per logging step, in a file of the run folder."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
import weakref
from pathlib import Path
from typing import IO, Any

from noether.config.schemas.tracker import JsonlTrackerConfig
from noether.core.runs import PathProvider
from noether.core.text_files import replace_text
from noether.core.trackers.base import TrackerBase

logger = logging.getLogger(__name__)

_dumps_finite = json.JSONEncoder(allow_nan=False).encode
"""`json.dumps` that raises on NaN / infinity, without its per-call argument checks."""


def _json_number(value: float) -> float | str:
    """JSON has no NaN or infinity; write them as strings so every line stays valid JSON."""
    return value if math.isfinite(value) else str(value)


ROW_COUNTERS = ("update", "epoch", "sample")
"""The keys of a row that give its position; every other key is a metric."""

FLUSH_SECONDS = 1.0
"""A row logged this long after the last flush flushes every buffered line (summary, `flush`
and `close` flush at once)."""


class JsonlTracker(TrackerBase):
    """Appends `{"update", "epoch", "sample", <metrics>...}` lines to `<run_dir>/<filename>`.

    A row can come every update, and encoding and writing each one in between two updates
    costs more than the update of a small model; rows are therefore kept and written in one
    batch at most every `FLUSH_SECONDS`, on every summary, on `flush()` and on `close()`
    (which the CLI calls in `finally`, so a failed run keeps every row logged before the
    failure; rows still pending when the tracker is garbage collected or the interpreter
    exits are written then).

    `<run_dir>/summary.json` holds the last value of every logged metric, overlaid with the
    summary values that callbacks add (a later value of a key replaces an earlier one); it is
    rewritten whole on every summary and on `close()`, so at the end of a run it holds the
    final metrics.
    """

    config: JsonlTrackerConfig

    def __init__(self, config: JsonlTrackerConfig) -> None:
        super().__init__(config)
        self.path: Path | None = None
        self.summary_path: Path | None = None
        self._file: IO[str] | None = None
        self._summary_values: dict[str, float] = {}
        self._rows: list[dict[str, Any]] = []
        self._last_flush = 0.0
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _start(self, path_provider: PathProvider, config: dict[str, Any]) -> None:
        self.path = path_provider.run_dir / self.config.filename
        self.summary_path = path_provider.run_dir / "summary.json"
        if self.resumed_at is not None:
            stored = _read_summary(self.summary_path)
            last_values, dropped_keys = _keep_rows_up_to(self.path, self.resumed_at)
            self._summary_values = {
                key: value for key, value in stored.items() if key not in dropped_keys
            }
            # the last values are those up to the checkpoint, not the interrupted run's
            self._summary_values.update(last_values)
        self._file = self.path.open("a", encoding="utf-8")
        self._rows = []
        self._last_flush = time.monotonic()
        self._finalizer = weakref.finalize(self, _write_rows_at_exit, self._rows, self._file)

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self._rows.append({"update": update, "epoch": epoch, "sample": sample, **metrics})
        self._summary_values.update(metrics)
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Writes every pending row to the file now (e.g. before reading it mid-run)."""
        if self._file is not None:
            self._reopen_if_replaced()
            _write_rows(self._rows, self._file)
            self._last_flush = time.monotonic()

    def _reopen_if_replaced(self) -> None:
        """A file deleted (or replaced) while the run writes to it would take every later row
        with it, unseen: a new file is opened in its place, saying what was lost."""
        assert self._file is not None and self.path is not None
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            on_disk = None
        held = os.fstat(self._file.fileno())
        if on_disk is not None and (on_disk.st_ino, on_disk.st_dev) == (held.st_ino, held.st_dev):
            return
        first = self._rows[0]["update"] if self._rows else "the next row"
        logger.warning(
            "%s was deleted or replaced while the run wrote to it: the rows before update %s "
            "in it are lost; the rows from there on go to a new file",
            self.path,
            first,
        )
        if self._finalizer is not None:
            self._finalizer.detach()
        self._file.close()
        self._file = self.path.open("a", encoding="utf-8")
        self._finalizer = weakref.finalize(self, _write_rows_at_exit, self._rows, self._file)

    def _summary(self, metrics: dict[str, float]) -> None:
        self.flush()
        self._summary_values.update(metrics)
        self._write_summary()

    def _write_summary(self) -> None:
        """Rewrites summary.json whole (atomically); NaN / infinity as strings."""
        assert self.summary_path is not None
        values = {key: _json_number(value) for key, value in self._summary_values.items()}
        replace_text(self.summary_path, json.dumps(values, indent=2) + "\n")

    def _close(self) -> None:
        if self._file is not None:
            self.flush()
            self._write_summary()
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
            self._file.close()
            self._file = None


def _as_float(value: Any) -> float | None:
    """A metric's value as written (a number, or NaN / infinity as a string); None if not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _read_summary(path: Path) -> dict[str, float]:
    """The values of a run's summary.json; derived from the rows and the summaries, so a file
    that cannot be read (emptied by a crash, edited) is rebuilt from the rows, with a warning,
    rather than failing the resume."""
    if not path.is_file():
        return {}
    try:
        stored = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        logger.warning("%s cannot be read (%s): rebuilt from the metrics rows", path, exc)
        return {}
    if not isinstance(stored, dict):
        logger.warning("%s holds no JSON object: rebuilt from the metrics rows", path)
        return {}
    values = {key: _as_float(value) for key, value in stored.items()}
    return {key: value for key, value in values.items() if value is not None}


def _keep_rows_up_to(path: Path, update: int) -> tuple[dict[str, float], set[str]]:
    """Drops the rows after `update` (and a line cut short by a crash), atomically: a resumed
    run appends its own rows from there, so none is duplicated or lost. A line that is no
    row (damaged since it was written) is dropped too, with a warning naming the file.

    Returns the last value of every metric in the rows kept and the metrics of the rows dropped.
    """
    kept: list[str] = []
    last_values: dict[str, float] = {}
    dropped_keys: set[str] = set()
    if not path.is_file():
        return last_values, dropped_keys
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    cut_short = lines.pop()  # what follows the last newline: a row a crash cut short
    unreadable = 0
    for line in lines:
        row = _parse_row(line)
        if row is None:
            unreadable += bool(line.strip())
            continue
        metrics = {key: value for key, value in row.items() if key not in ROW_COUNTERS}
        if row["update"] <= update:
            kept.append(line + "\n")
            numbers = {key: _as_float(value) for key, value in metrics.items()}
            last_values.update({k: v for k, v in numbers.items() if v is not None})
        else:
            dropped_keys.update(metrics)
    if unreadable:
        logger.warning("%s: dropped %d line(s) that are no metrics row", path, unreadable)
    if cut_short.strip():
        logger.info("%s: dropped its last line, cut short when the run stopped", path)
    replace_text(path, "".join(kept))
    return last_values, dropped_keys


def _parse_row(line: str) -> dict[str, Any] | None:
    """A metrics row (a JSON object with an integer `update`), or None."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict):
        return None
    position = row.get("update")
    if isinstance(position, bool) or not isinstance(position, int):
        return None
    return row


def _write_rows(rows: list[dict[str, Any]], file: IO[str], close: bool = False) -> None:
    """Encodes and writes the pending rows (emptying the list) and flushes the file.

    Raises:
        OSError: the write failed (e.g. a full disk); the message names the file, which is
            closed without writing more, so the rows already in it stay and nothing retries
            at exit.
    """
    if file.closed:
        return
    try:
        if rows:
            lines = [_encode(row) for row in rows]
            rows.clear()
            lines.append("")
            file.write("\n".join(lines))
        file.flush()
        if close:
            file.close()
    except OSError as exc:
        rows.clear()
        with contextlib.suppress(OSError):
            os.close(file.fileno())  # drop the buffer: flushing it again fails the same way
        with contextlib.suppress(OSError):
            file.close()
        raise OSError(exc.errno, exc.strerror, str(file.name)) from exc


def _write_rows_at_exit(rows: list[dict[str, Any]], file: IO[str]) -> None:
    """`_write_rows` for the finalizer: a failure is one line on stderr, not a traceback."""
    try:
        _write_rows(rows, file, close=True)
    except OSError as exc:
        print(f"noether: metrics rows lost: {exc}", file=sys.stderr)


def _encode(row: dict[str, Any]) -> str:
    """One JSON line; NaN / infinity (which JSON lacks) become strings. The encoder finds
    them, so finite rows (nearly all) are not scanned in Python first."""
    try:
        return _dumps_finite(row)
    except ValueError:
        return _dumps_finite(
            {key: _json_number(v) if isinstance(v, float) else v for key, v in row.items()}
        )


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Reads back every row of a metrics file. A last line cut short (a run killed or out of
    disk while writing it: no newline ends it) is left out, as a resume drops it; a line that
    is no row (a file cut and written on, edited) is left out naming its line."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    last = lines.pop()  # what follows the last newline: empty unless cut short
    rows = []
    for number, line in enumerate(lines, start=1):
        row = _parse_row(line) if line.strip() else {}
        if row is None:
            logger.warning("%s:%d: not a metrics row, left out", path, number)
        elif row:
            rows.append(row)
    last_row = _parse_row(last) if last.strip() else None
    if last_row is not None:  # else not a whole row: cut short
        rows.append(last_row)
    return rows
