"""Running mean of each training loss since the last log, without a host sync per step."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as _dist
from torch import Tensor

from noether.core.callbacks.base import PeriodicCallback
from noether.core.counters import Frequency
from noether.core.distributed import all_reduce_sum, get_world_size

_isfinite = math.isfinite
_DIST_AVAILABLE = _dist.is_available()

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


def _host_values(values: list[Tensor]) -> list[float]:
    """Each step's (mean) loss as a float, for losses that already live on the host."""
    try:
        return [value.item() for value in values]
    except RuntimeError:  # a loss with more than one element: its mean
        return [value.detach().float().mean().item() for value in values]


def _finite_sum(values: list[float]) -> tuple[float, int]:
    """Sum and count of the finite values (steps with NaN / inf losses are left out)."""
    isfinite = math.isfinite
    finite = [value for value in values if isfinite(value)]
    return sum(finite), len(finite)


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

    __slots__ = ("chunks", "counts", "sums")

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}
        self.chunks: list[tuple[str, _Chunk]] = []

    def add(self, name: str, total: float, count: float) -> None:
        sums, counts = self.sums, self.counts
        sums[name] = sums.get(name, 0.0) + total
        counts[name] = counts.get(name, 0.0) + count

    def totals(self) -> dict[str, tuple[float, float]]:
        """(sum, count) per name, reading pending accelerator chunks (the host sync)."""
        for name, chunk in self.chunks:
            self.add(name, *_finite_sum(chunk.floats()))
        self.chunks = []
        counts = self.counts
        return {name: (total, counts[name]) for name, total in self.sums.items()}

    def take_means(self, owner: Any) -> dict[str, float]:
        """Mean per loss over all ranks (see `_reduced_means`) since the last take; clears.

        `owner` is the callback: its device is read only when a process group reduces.
        """
        if self.chunks:
            self.totals()
        sums, counts = self.sums, self.counts
        self.sums = {}
        self.counts = {}
        if not sums:
            return {}
        if _DIST_AVAILABLE and _dist.is_initialized() and get_world_size() > 1:
            totals = {name: (total, counts[name]) for name, total in sums.items()}
            return _reduced_means(totals, owner.device or "cpu")
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


def _update_intervals(track: Frequency, log: Frequency | None) -> tuple[int, int] | None:
    """(track every n updates, log every n updates or 0) when both intervals are in updates
    only (`Frequency.update_interval`); None otherwise (the general rule)."""
    track_every = track.update_interval
    if track_every is None:
        return None
    if log is None:
        return track_every, 0
    if log.every_n_samples is not None:
        return None
    return track_every, log.every_n_updates or 0


class OnlineLossCallback(PeriodicCallback):
    """Logs `loss/online/<name>` and `loss/online/total` every track interval.

    Each micro-batch's losses are only referenced (one list append); every 64 of them, and
    at each log, they are stacked on their device, and an accelerator's values reach the host
    only when something is logged (one copy per loss name). CPU losses are read directly.
    Under DDP the sums and counts are all-reduced when logged, so every rank logs the mean
    over all ranks' steps. At the log interval (`log_every`), the mean since the previous
    log line is printed.

    The loop passes `losses_to_log`, which may still hold their graphs; they are kept at
    most 64 micro-batches (already backpropagated, so their buffers are freed).

    Args:
        log_every: every_n_* of the console interval (None: no console line).
        every_n_epochs / every_n_updates / every_n_samples: the tracker interval.
    """

    def __init__(
        self,
        *args: Any,
        log_every: Mapping[str, int | None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.log_frequency = Frequency(**log_every) if log_every else None
        self._every = _update_intervals(self.frequency, self.log_frequency)
        """(track every n, log every n or 0) when both are in updates only, else None."""
        self._pending: list[Mapping[str, Tensor]] = []
        self._track = _Window()
        self._log = _Window()
        self._due_track = False
        self._due_log = False
        self._keys: dict[str, str] = {}
        self.last_logged: dict[str, float] = {}
        """Values of the last console line (for tests and metric readers)."""

    def track_after_accumulation_step(
        self,
        losses: dict[str, Tensor],
        additional_outputs: Any,
        accumulation_step: int,
        accumulation_steps: int,
    ) -> None:
        pending = self._pending
        pending.append(losses)
        if len(pending) >= _FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        """Adds the pending host losses to both windows as numbers (no device sync) and stacks
        the accelerator ones per name into one chunk."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        track, log = self._track, self._log
        track_sums, track_counts = track.sums, track.counts
        log_sums, log_counts = log.sums, log.counts
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
                if _isfinite(number):
                    count = 1.0
                else:  # steps with NaN / inf losses are left out (the name still shows)
                    number = count = 0.0
                track_sums[name] = track_sums.get(name, 0.0) + number
                track_counts[name] = track_counts.get(name, 0.0) + count
                log_sums[name] = log_sums.get(name, 0.0) + number
                log_counts[name] = log_counts.get(name, 0.0) + count
        if device is not None:
            for name, values in device.items():
                chunk = _Chunk(_stack_losses(values))
                track.chunks.append((name, chunk))
                log.chunks.append((name, chunk))

    def should_run(self, end_of_epoch: bool = False) -> bool:
        """Due at the track interval or at the log interval."""
        counter = self.update_counter
        log = self.log_frequency
        if end_of_epoch:
            epoch = counter.epoch
            due_track = self.frequency.due_after_epoch(epoch)
            due_log = log is not None and log.due_after_epoch(epoch)
        elif self._every is not None:  # both intervals in updates only: two modulos
            update = counter.update
            track_every, log_every = self._every
            due_track = update % track_every == 0
            due_log = log_every > 0 and update % log_every == 0
        else:
            update, sample, batch = counter.update, counter.sample, counter.effective_batch_size
            due_track = self.frequency.due_after_update(update, sample, batch)
            due_log = log is not None and log.due_after_update(update, sample, batch)
        self._due_track = due_track
        self._due_log = due_log
        return due_track or due_log

    def next_update_due(self) -> int | None:
        """The earlier of the next track and the next log update."""
        counter = self.update_counter
        update = counter.update
        if self._every is not None:
            track_every, log_every = self._every
            next_track = (update // track_every + 1) * track_every
            if log_every > 0:
                return min(next_track, (update // log_every + 1) * log_every)
            return next_track
        sample, batch = counter.sample, counter.effective_batch_size
        due = self.frequency.next_update_due(update, sample, batch)
        if self.log_frequency is not None:
            log_due = self.log_frequency.next_update_due(update, sample, batch)
            if due is None or (log_due is not None and log_due < due):
                due = log_due
        return due

    def periodic_callback(self) -> None:
        due_track, due_log = self._due_track, self._due_log
        if not (due_track or due_log):  # called without should_run (forced): do both
            due_track = due_log = True
        self._due_track = self._due_log = False
        if self._pending:
            self._fold()
        if due_track:
            means = self._track.take_means(self)
            writer = self.log_writer
            if writer is not None:
                keys = self._keys
                for name, value in means.items():
                    key = keys.get(name)
                    if key is None:
                        key = keys[name] = f"loss/online/{name}"
                    writer.add_scalar(key, value)
        if due_log and self.log_frequency is not None:
            means = self._log.take_means(self)
            if means:
                self.last_logged = means
                logger = self.logger
                if logger.isEnabledFor(logging.INFO):
                    text = ", ".join(f"{name} {value:.6g}" for name, value in means.items())
                    logger.info("online loss: %s", text)

    def state_dict(self) -> dict[str, Any]:
        self._fold()
        return {"track": self._track.state_dict(), "log": self._log.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = []
        self._track.load_state_dict(state_dict.get("track", {}))
        self._log.load_state_dict(state_dict.get("log", {}))
