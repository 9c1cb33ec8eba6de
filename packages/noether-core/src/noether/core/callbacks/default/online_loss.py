"""Running mean of each training loss since the last log, without a host sync per step."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from noether.core.callbacks.base import PeriodicCallback
from noether.core.distributed import all_reduce_sum, get_world_size

_isfinite = math.isfinite

_FOLD_EVERY = 64
"""Micro-batches whose losses are kept before they are stacked into one device tensor."""


def _stack_losses(values: list[Tensor]) -> Tensor:
    """One float vector with each step's (mean) loss; no graph is recorded."""
    with torch.no_grad():
        try:
            stacked = torch.stack(values)
        except RuntimeError:  # per-sample losses of different lengths
            stacked = torch.stack([value.float().mean() for value in values])
        stacked = stacked.float()
        return stacked if stacked.dim() == 1 else stacked.reshape(len(values), -1).mean(dim=1)


def _step_sum(values: list[float], drop_nonfinite: bool) -> tuple[float, int]:
    """Sum and count of the step losses; with `drop_nonfinite` (skip_nan_loss: those steps
    were skipped) NaN / inf losses are left out, else they make the mean NaN / inf."""
    if drop_nonfinite:
        values = [value for value in values if math.isfinite(value)]
    return sum(values), len(values)


class _Chunk:
    """Step losses stacked on an accelerator; copied to the host once, when first logged."""

    __slots__ = ("_floats", "tensor")

    def __init__(self, tensor: Tensor) -> None:
        self.tensor: Tensor | None = tensor
        self._floats: list[float] | None = None

    def floats(self) -> list[float]:
        if self._floats is None:
            assert self.tensor is not None
            self._floats = self.tensor.tolist()
            self.tensor = None
        return self._floats


class _Window:
    """Sum and count of the finite step losses per name since the window was cleared.

    Host losses are added as numbers; accelerator losses wait as chunks until `totals`.
    """

    __slots__ = ("chunks", "counts", "drop_nonfinite", "sums")

    def __init__(self, drop_nonfinite: bool) -> None:
        self.drop_nonfinite = drop_nonfinite
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}
        self.chunks: list[tuple[str, _Chunk]] = []

    def add(self, name: str, total: float, count: float) -> None:
        sums, counts = self.sums, self.counts
        sums[name] = sums.get(name, 0.0) + total
        counts[name] = counts.get(name, 0.0) + count

    def merge(self, other: _Window) -> None:
        """Adds `other`'s sums, counts and chunks (chunks are shared, not copied)."""
        counts = other.counts
        for name, total in other.sums.items():
            self.add(name, total, counts[name])
        self.chunks.extend(other.chunks)

    def totals(self) -> dict[str, tuple[float, float]]:
        """(sum, count) per name, reading pending accelerator chunks (the host sync)."""
        for name, chunk in self.chunks:
            self.add(name, *_step_sum(chunk.floats(), self.drop_nonfinite))
        self.chunks = []
        counts = self.counts
        return {name: (total, counts[name]) for name, total in self.sums.items()}

    def take_means(self, world_size: int, device: Any) -> dict[str, float]:
        """Mean per loss over all ranks (see `_reduced_means`) since the last take; clears.

        `device` holds the all-reduce's tensor (only with more than one rank).
        """
        if self.chunks:
            self.totals()
        sums, counts = self.sums, self.counts
        self.clear()
        if not sums:
            return {}
        if world_size > 1:
            totals = {name: (total, counts[name]) for name, total in sums.items()}
            return _reduced_means(totals, device or "cpu")
        means: dict[str, float] = {}
        for name, total in sums.items():
            count = counts[name]
            means[name] = total / count if count else math.nan
        if "total" not in means:
            means["total"] = sum(means.values())
        return means

    def clear(self) -> None:
        self.sums = {}
        self.counts = {}
        self.chunks = []

    def state_dict(self) -> dict[str, list[float]]:
        return {name: [total, count] for name, (total, count) in self.totals().items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.clear()
        for name, (total, count) in state.items():
            self.add(str(name), float(total), float(count))


def _reduced_means(totals: dict[str, tuple[float, float]], device: Any) -> dict[str, float]:
    """Mean per loss over all ranks (one all-reduce when distributed), plus `total` when the
    losses are named.

    Non-finite step losses (skipped by skip_nan_loss) are left out of the mean; a window of
    only non-finite losses gives NaN.
    """
    if get_world_size() > 1 and totals:
        names = list(totals)
        flat = [totals[name][0] for name in names] + [totals[name][1] for name in names]
        packed = torch.tensor(flat, dtype=torch.float64, device=torch.device(device))
        values = all_reduce_sum(packed).tolist()
        totals = {name: (values[i], values[len(names) + i]) for i, name in enumerate(names)}
    means = {name: total / count if count else math.nan for name, (total, count) in totals.items()}
    if means and "total" not in means:
        means["total"] = sum(means.values())
    return means


class OnlineLossCallback(PeriodicCallback):
    """Logs `loss/online/<name>` and `loss/online/total` every track interval.

    Each micro-batch's losses are only referenced (one list append). Every 64 of them, and
    whenever a mean is taken, they are folded into one open segment: CPU losses as numbers,
    accelerator losses stacked per name on their device (they reach the host only when
    something is logged, one copy per loss name). Taking a mean first adds the open segment
    to every window: the tracker's, and that of each `OnlineLossConsoleCallback` fed by this
    one (`add_window`), so a step costs the same however many windows there are. Under DDP
    the sums and counts are all-reduced when logged, so every rank logs the mean over all
    ranks' steps.

    The loop passes `losses_to_log`, which may still hold their graphs; they are kept at
    most 64 micro-batches (already backpropagated, so their buffers are freed).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # skipped steps (skip_nan_loss) stay out of the mean; otherwise a NaN step shows
        config = getattr(self.trainer, "config", None)
        self.drop_nonfinite = bool(getattr(config, "skip_nan_loss", False))
        self._pending: list[Mapping[str, Tensor]] = []
        self._open = _Window(self.drop_nonfinite)
        self._track = _Window(self.drop_nonfinite)
        self._windows = [self._track]
        self._keys: dict[str, str] = {}

    def add_window(self) -> _Window:
        """A further window that every step's losses go into (see `take_means`)."""
        window = _Window(self.drop_nonfinite)
        self._windows.append(window)
        return window

    def track_after_accumulation_step(
        self,
        losses: dict[str, Tensor] | None,
        additional_outputs: Any,
        accumulation_step: int,
        accumulation_steps: int,
    ) -> None:
        if not losses:  # None or {}: nothing to average
            return
        pending = self._pending
        pending.append(losses)
        if len(pending) >= _FOLD_EVERY:
            self._fold_pending()

    def _fold_pending(self) -> None:
        """Adds the pending host losses to the open segment as numbers (no device sync) and
        stacks the accelerator ones per name into one chunk."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        segment = self._open
        sums, counts = segment.sums, segment.counts
        device: dict[str, list[Tensor]] | None = None
        for losses in pending:
            for name, value in losses.items():
                if not value.is_cpu:
                    if device is None:
                        device = {}
                    values = device.get(name)
                    if values is None:
                        device[name] = [value]
                    else:
                        values.append(value)
                    continue
                try:
                    number = value.item()
                except RuntimeError:  # a loss with more than one element: its mean
                    number = value.detach().float().mean().item()
                if self.drop_nonfinite and not _isfinite(number):
                    number = count = 0.0  # a skipped step is left out (the name still shows)
                else:
                    count = 1.0
                sums[name] = sums.get(name, 0.0) + number
                counts[name] = counts.get(name, 0.0) + count
        if device is not None:
            for name, values in device.items():
                segment.chunks.append((name, _Chunk(_stack_losses(values))))

    def collect(self) -> None:
        """Folds the pending steps and adds the open segment to every window."""
        if self._pending:
            self._fold_pending()
        segment = self._open
        if segment.sums or segment.chunks:
            for window in self._windows:
                window.merge(segment)
            segment.clear()

    def take_means(self, window: _Window) -> dict[str, float]:
        """The mean of each loss (over all ranks) since `window` was last taken; clears it."""
        self.collect()
        return window.take_means(get_world_size(), self.device)

    def periodic_callback(self) -> None:
        means = self.take_means(self._track)
        writer = self.log_writer
        if writer is not None:
            keys = self._keys
            for name, value in means.items():
                key = keys.get(name)
                if key is None:
                    key = keys[name] = f"loss/online/{name}"
                writer.add_scalar(key, value)

    def state_dict(self) -> dict[str, Any]:
        self.collect()
        return {"track": self._track.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = []
        self._open = _Window(self.drop_nonfinite)
        self._track.load_state_dict(state_dict.get("track", {}))


class OnlineLossConsoleCallback(PeriodicCallback):
    """Prints the mean of each training loss since its previous line (`online loss: total
    0.0123`), at its own interval (the log interval of the defaults).

    The losses come from `source`, which keeps a window for this callback; apart from
    `source`'s, this costs nothing per step.

    Args:
        source: the OnlineLossCallback that collects the step losses.
    """

    def __init__(self, *args: Any, source: OnlineLossCallback, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source = source
        self._window = source.add_window()
        self.last_logged: dict[str, float] = {}
        """Values of the last line (for tests and metric readers)."""

    def periodic_callback(self) -> None:
        means = self.source.take_means(self._window)
        if not means:
            return
        self.last_logged = means
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):
            text = ", ".join(f"{name} {value:.6g}" for name, value in means.items())
            logger.info("online loss: %s", text)

    def state_dict(self) -> dict[str, Any]:
        self.source.collect()
        return {"window": self._window.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._window.load_state_dict(state_dict.get("window", {}))
