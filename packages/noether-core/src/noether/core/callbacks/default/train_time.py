"""Where an update's time goes: waiting for data, forward, backward and the optimizer step."""

from __future__ import annotations

import logging
from typing import Any

from noether.core.callbacks.base import PeriodicCallback
from noether.core.stopwatch import Stopwatch

TIMING_KEYS = ("data_wait", "forward", "backward", "update")
"""Timings the loop measures per update (`time/<key>` metrics, seconds per update)."""


class TrainTimeCallback(PeriodicCallback):
    """Logs the mean seconds per update of each phase since the last log.

    On CUDA the phases are host-side times: kernels run asynchronously, so time spent
    waiting for the device shows up where the host first waits (usually `update` or
    `data_wait`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sums: dict[str, float] = {}
        self._count = 0

    def track_after_update_step(self, losses: Any, timings: dict[str, Stopwatch]) -> None:
        for key, watch in timings.items():
            self._sums[key] = self._sums.get(key, 0.0) + float(watch)  # a Stopwatch or seconds
        self._count += 1

    def mean_timings(self) -> dict[str, float]:
        """Mean seconds per update of every phase since the last log (empty if none)."""
        if self._count == 0:
            return {}
        return {key: total / self._count for key, total in self._sums.items()}

    def periodic_callback(self) -> None:
        means = self.mean_timings()
        if not means:
            return
        writer = self.context.log_writer
        if writer is not None:
            for key, value in means.items():
                writer.add_scalar(f"time/{key}", value)
        if self.logger.isEnabledFor(logging.INFO):
            order = [key for key in TIMING_KEYS if key in means]
            order += [key for key in means if key not in TIMING_KEYS]
            parts = ", ".join(f"{key} {means[key] * 1e3:.2f}" for key in order)
            self.logger.info("ms per update over %d updates: %s", self._count, parts)
        self._sums = {}
        self._count = 0

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self._sums), "count": self._count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._sums = {str(k): float(v) for k, v in state_dict.get("sums", {}).items()}
        self._count = int(state_dict.get("count", 0))
