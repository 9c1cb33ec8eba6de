"""LogWriter: buffers scalars during a logging step and sends them to the tracker as one row."""

from __future__ import annotations

from typing import Protocol

import torch

from noether.core.host import host_values
from noether.core.trackers.base import TrackerBase


class CounterLike(Protocol):
    """What `flush` reads from the update counter."""

    update: int
    epoch: int
    sample: int


class LogWriter:
    """Collects metrics between flushes without synchronising the device.

    `add_scalar` keeps 0-d tensors as they are; `flush` moves all of them to the host in one
    transfer per device, so logging a dozen values costs one synchronisation, not a dozen.

    Args:
        tracker: where rows go (a no-op on ranks other than 0).
    """

    def __init__(self, tracker: TrackerBase) -> None:
        self.tracker = tracker
        self.pending: dict[str, float | torch.Tensor] = {}
        """Values buffered for the next row (empty: `flush` has nothing to send)."""
        self._buffered_tensors = False
        self.last_values: dict[str, float] = {}
        """The latest flushed value of every key (for metric-based callbacks)."""
        self.summary_values: dict[str, float] = {}
        """Every summary value the run recorded (kept in checkpoints: a resumed run does not
        send one again unchanged, which would add a second point to the tracker's series)."""

    def add_scalar(self, key: str, value: float | int | torch.Tensor) -> None:
        """Buffers one value for the next row; a later value of the same key replaces it."""
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"{key}: expected a scalar, got a tensor of shape {value.shape}")
            self.pending[key] = value.detach()
            self._buffered_tensors = True
        else:
            self.pending[key] = float(value)

    def flush(self, update_counter: CounterLike) -> dict[str, float]:
        """Converts the buffered values and sends them as one row; returns the row.

        Called after every update: with nothing buffered it returns at once (no row).
        """
        buffer = self.pending
        if not buffer:
            return {}
        row: dict[str, float]
        if self._buffered_tensors:
            row = _to_floats(buffer)
            self._buffered_tensors = False
        else:
            row = buffer  # type: ignore[assignment]  # floats only
        self.pending = {}
        self.last_values.update(row)
        self.tracker.log(
            row,
            update=update_counter.update,
            epoch=update_counter.epoch,
            sample=update_counter.sample,
        )
        return row

    def latest_values(self) -> dict[str, float]:
        """The latest value of every key: flushed values, overlaid with those buffered for the
        row being written now, so a callback reads a metric logged earlier in the same update.

        Buffered tensors are converted (one host transfer per device) but stay buffered.
        """
        values = dict(self.last_values)
        if self.pending:
            values.update(_to_floats(self.pending))
        return values

    def get(self, key: str) -> float | None:
        """The latest value of `key` (buffered before flushed), or None when never logged."""
        value = self.pending.get(key)
        if value is None:
            return self.last_values.get(key)
        return float(value.item()) if isinstance(value, torch.Tensor) else value

    def add_summary(self, key: str, value: float | int | torch.Tensor) -> None:
        """Records a final value of the run (sent to the tracker at once, unless the run
        recorded this value already)."""
        number = float(value.item()) if isinstance(value, torch.Tensor) else float(value)
        if self.summary_values.get(key) == number:
            return
        self.summary_values[key] = number
        self.tracker.summary({key: number})


def _to_floats(buffer: dict[str, float | torch.Tensor]) -> dict[str, float]:
    """Floats in buffer order; the tensors read per device (`host_values`)."""
    by_device: dict[torch.device, list[str]] = {}
    for key, value in buffer.items():
        if isinstance(value, torch.Tensor):
            by_device.setdefault(value.device, []).append(key)
    converted: dict[str, float] = {}
    for keys in by_device.values():
        tensors = [buffer[key] for key in keys]
        converted.update(zip(keys, host_values(tensors), strict=True))  # type: ignore[arg-type]
    return {
        key: converted[key] if isinstance(value, torch.Tensor) else value
        for key, value in buffer.items()
    }
