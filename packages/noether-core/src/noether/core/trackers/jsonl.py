"""The `jsonl` tracker: one JSON object per logging step, in a file of the run folder."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

from noether.config.schemas.tracker import JsonlTrackerConfig
from noether.core.runs import PathProvider
from noether.core.trackers.base import TrackerBase


def _json_number(value: float) -> float | str:
    """JSON has no NaN or infinity; write them as strings so every line stays valid JSON."""
    return value if math.isfinite(value) else str(value)


class JsonlTracker(TrackerBase):
    """Appends `{"update", "epoch", "sample", <metrics>...}` lines to `<run_dir>/<filename>`.

    Each line is flushed when written, so a crashed run keeps every row logged before the crash.
    The summary goes to `<run_dir>/summary.json`, rewritten whole on every call.
    """

    config: JsonlTrackerConfig

    def __init__(self, config: JsonlTrackerConfig) -> None:
        super().__init__(config)
        self.path: Path | None = None
        self.summary_path: Path | None = None
        self._file: IO[str] | None = None
        self._summary_values: dict[str, Any] = {}

    def _start(self, path_provider: PathProvider, config: dict[str, Any]) -> None:
        self.path = path_provider.run_dir / self.config.filename
        self.summary_path = path_provider.run_dir / "summary.json"
        self._file = self.path.open("a", encoding="utf-8")

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        assert self._file is not None
        row: dict[str, Any] = {"update": update, "epoch": epoch, "sample": sample}
        row.update({key: _json_number(value) for key, value in metrics.items()})
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def _summary(self, metrics: dict[str, float]) -> None:
        assert self.summary_path is not None
        self._summary_values.update({k: _json_number(v) for k, v in metrics.items()})
        tmp = self.summary_path.with_name(self.summary_path.name + ".tmp")
        tmp.write_text(json.dumps(self._summary_values, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.summary_path)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Reads back every row of a metrics file."""
    with Path(path).open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]
