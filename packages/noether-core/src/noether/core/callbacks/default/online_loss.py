"""Running mean of each training loss since the last log, read from the device only then."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from noether.core.callbacks.base import PeriodicCallback
from noether.core.distributed import all_gather_object, all_reduce_sum, get_world_size, is_rank0
from noether.core.host import host_values

Window = dict[str, list[float]]
"""Per loss name, `[sum, count]` of its step losses since the window was last taken."""

_FOLD_EVERY = 64
"""Steps kept by reference before they are stacked per name on their device (bounds what is
held, graphs included, when the log interval is long)."""


def _stack_losses(values: list[Tensor]) -> Tensor:
    """One float vector with each step's loss (per-sample losses: their mean); no graph."""
    if all(value.dim() == 0 for value in values):
        return torch.stack(values).detach().float()
    return torch.stack([value.detach().float().mean() for value in values])


def _window_state(window: Window, device: torch.device) -> dict[str, list[float]]:
    """A window's `{name: [sum, count]}` summed over ranks (every rank calls it, in lockstep):
    the checkpoint holds rank 0's callback state only, and a resume in the middle of the
    window must keep the other ranks' steps of it (see `_load_window`)."""
    if get_world_size() == 1:
        return {name: list(window[name]) for name in sorted(window)}
    # the names of every rank (after a resume only rank 0's window holds any)
    names = sorted(set().union(*all_gather_object(sorted(window))))
    if not names:
        return {}
    totals = [window.get(name, [0.0, 0.0]) for name in names]
    packed = torch.tensor(totals, dtype=torch.float64, device=device)
    return dict(zip(names, all_reduce_sum(packed).tolist(), strict=True))


def _load_window(window: Window, state: Mapping[str, Any]) -> None:
    """Restores a window's `{name: [sum, count]}` (over all ranks) in place (a console keeps a
    reference) on rank 0; the other ranks start it empty, so the reduction when the mean is
    taken counts each step once."""
    window.clear()
    if not is_rank0():
        return
    for name, (total, count) in state.items():
        window[str(name)] = [float(total), float(count)]


class OnlineLossCallback(PeriodicCallback):
    """Logs `loss/online/<name>` and `loss/online/total` every track interval.

    Each micro-batch's losses are kept by reference and, every 64 steps, stacked per name
    on their device. They reach the host only when a mean is taken (`host_values`), and
    are then added to every window: the tracker's and that of each
    `OnlineLossConsoleCallback` fed by this one (`add_window`). Under DDP the sums and
    counts are all-reduced when logged, so every rank logs the mean over all ranks' steps.

    A non-finite step makes the mean NaN / inf, unless `skip_nan_loss` skipped that step:
    then it is left out (a window of only skipped steps logs NaN).

    Micro-batches of unequal size (7 samples as 4 + 3) count by their size, as in the
    gradient: the mean is that of one batch of the whole update, whatever the split.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = getattr(self.trainer, "config", None)
        self.drop_nonfinite = bool(getattr(config, "skip_nan_loss", False))
        weights = getattr(getattr(self.trainer, "micro_batch_plan", None), "weights", ())
        self._step_factors: tuple[float, ...] | None = None
        """Per micro-batch: its size over the mean size (None when all are equal)."""
        if len(set(weights)) > 1:
            self._step_factors = tuple(weight * len(weights) for weight in weights)
        self._pending: list[Mapping[str, Tensor]] = []
        self._stacked: dict[str, list[Tensor]] = {}
        self._track: Window = {}
        self._windows: list[Window] = [self._track]

    def add_window(self) -> Window:
        """A further window that every step's losses go into (see `take_means`)."""
        window: Window = {}
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
        factors = self._step_factors
        if factors is not None and len(factors) == accumulation_steps:
            factor = factors[accumulation_step]
            losses = {name: value.detach() * factor for name, value in losses.items()}
        # append only: summing on the device every step slows tools/bench/loop_overhead.py (A)
        self._pending.append(losses)
        if len(self._pending) >= _FOLD_EVERY:
            self._stack_pending()

    def _take_pending(self) -> dict[str, list[Tensor]]:
        """The pending steps' losses per name (the pending list is emptied)."""
        by_name: dict[str, list[Tensor]] = {}
        for losses in self._pending:
            for name, value in losses.items():
                by_name.setdefault(name, []).append(value)
        self._pending = []
        return by_name

    def _stack_pending(self) -> None:
        """Stacks the pending steps' losses per name on their device (no host sync)."""
        for name, values in self._take_pending().items():
            self._stacked.setdefault(name, []).append(_stack_losses(values))

    def collect(self) -> None:
        """Reads the steps since the last collect (the host sync) into every window."""
        read: dict[str, list[float]] = {}
        for name, vectors in self._stacked.items():
            read[name] = (vectors[0] if len(vectors) == 1 else torch.cat(vectors)).tolist()
        self._stacked = {}
        for name, values in self._take_pending().items():
            if all(value.dim() == 0 for value in values):
                read.setdefault(name, []).extend(host_values(values))
            else:
                read.setdefault(name, []).extend(_stack_losses(values).tolist())
        for name, host in read.items():
            if self.drop_nonfinite:  # skipped steps stay out of the mean
                host = [value for value in host if math.isfinite(value)]
            for window in self._windows:
                total = window.setdefault(name, [0.0, 0.0])
                total[0] += sum(host)
                total[1] += len(host)

    def take_means(self, window: Window) -> dict[str, float]:
        """The mean of each loss (over all ranks) since `window` was last taken; clears it."""
        self.collect()
        if not window:
            return {}
        names = list(window)
        totals = [window[name] for name in names]
        window.clear()
        if get_world_size() > 1:
            packed = torch.tensor(totals, dtype=torch.float64, device=self.device)
            totals = all_reduce_sum(packed).tolist()
        means = {
            name: total / count if count else math.nan
            for name, (total, count) in zip(names, totals, strict=True)
        }
        if "total" not in means:
            means["total"] = sum(means.values())
        return means

    def periodic_callback(self) -> None:
        means = self.take_means(self._track)
        writer = self.context.log_writer
        if writer is not None:
            for name, value in means.items():
                writer.add_scalar(f"loss/online/{name}", value)

    def state_dict(self) -> dict[str, Any]:
        self.collect()
        return {"track": _window_state(self._track, self.device)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = []
        self._stacked = {}
        _load_window(self._track, state_dict.get("track", {}))


class OnlineLossConsoleCallback(PeriodicCallback):
    """Prints the mean of each training loss since its previous line (`online loss: total
    0.0123`), at its own interval (the log interval of the defaults).

    The losses come from `source`, which keeps a window for this callback, so the console
    adds nothing per step.

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
        if self.logger.isEnabledFor(logging.INFO):
            text = ", ".join(f"{name} {value:.6g}" for name, value in means.items())
            self.logger.info("online loss: %s", text)

    def state_dict(self) -> dict[str, Any]:
        self.source.collect()
        return {"window": _window_state(self._window, self.device)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_window(self._window, state_dict.get("window", {}))
