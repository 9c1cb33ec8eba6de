"""A tracker that keeps what it is sent in memory, for assertions on logged metrics."""

from __future__ import annotations

from noether.config.schemas.tracker import NoopTrackerConfig
from noether.core.trackers.base import TrackerBase


class RecordingTracker(TrackerBase):
    """A real TrackerBase whose rows and summaries stay in memory.

    Active from construction (no run folder needed); its schema is `noop`'s, since it writes
    nowhere. Each row holds the metrics plus `_update`, `_epoch` and `_sample`.
    """

    def __init__(self) -> None:
        super().__init__(NoopTrackerConfig())
        self.rows: list[dict[str, float]] = []
        """Every logged row, in order."""
        self.summaries: dict[str, float] = {}
        """Every summary value (a later one replaces an earlier one of the same key)."""
        self.is_active = True

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self.rows.append({**metrics, "_update": update, "_epoch": epoch, "_sample": sample})

    def _summary(self, metrics: dict[str, float]) -> None:
        self.summaries.update(metrics)

    def rows_with(self, key: str) -> dict[int, float]:
        """update -> value, for every row that holds `key`."""
        return {int(row["_update"]): row[key] for row in self.rows if key in row}
