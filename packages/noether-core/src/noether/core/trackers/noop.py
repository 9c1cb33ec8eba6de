"""The `noop` tracker: metrics go nowhere (LogWriter.last_values still works)."""

from __future__ import annotations

from noether.core.trackers.base import TrackerBase


class NoopTracker(TrackerBase):
    """Discards every metric."""
