"""Default callbacks that every run gets when `add_default_callbacks` is on.

`build_default_callbacks` is what `BaseTrainer.get_default_callbacks` calls: statistics once
before training, then logging at the log interval (progress, timings, memory, console loss),
tracking at the finer track interval (online loss to the tracker, learning rate) and, when
asked, training-stability measurements every `monitor_interval` updates.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from noether.config.default_metrics import INTERVAL_UNITS, default_intervals
from noether.core.callbacks.base import CallbackBase, CallbackContext
from noether.core.callbacks.default.dataset_stats import DatasetStatsCallback
from noether.core.callbacks.default.lr import LrCallback
from noether.core.callbacks.default.online_loss import (
    OnlineLossCallback,
    OnlineLossConsoleCallback,
)
from noether.core.callbacks.default.param_count import ParamCountCallback
from noether.core.callbacks.default.peak_memory import PeakMemoryCallback
from noether.core.callbacks.default.progress import ProgressCallback, TerminalProgressCallback
from noether.core.callbacks.default.train_time import TrainTimeCallback
from noether.core.callbacks.default.training_stability import TrainingStabilityCallback
from noether.core.distributed import is_rank0


@dataclass(frozen=True)
class DefaultCallbackIntervals:
    """When the default callbacks log (console and tracker) and track (tracker only).

    The trainer fills in what the config leaves unset (1/100 and 1/500 of the updates).
    """

    log_every_n_epochs: int | None = None
    log_every_n_updates: int | None = None
    log_every_n_samples: int | None = None
    track_every_n_epochs: int | None = None
    track_every_n_updates: int | None = None
    track_every_n_samples: int | None = None

    @classmethod
    def from_mapping(
        cls, intervals: Mapping[str, Mapping[str, int | None]]
    ) -> DefaultCallbackIntervals:
        """From `{"log": {"every_n_updates": 10, ...}, "track": {...}}` (the trainer's form)."""
        values: dict[str, int | None] = {}
        for prefix in ("log", "track"):
            given = intervals.get(prefix, {})
            unknown = set(given) - {f"every_n_{unit}" for unit in INTERVAL_UNITS}
            if unknown:
                raise ValueError(f"unknown {prefix} interval keys: {', '.join(sorted(unknown))}")
            for unit in INTERVAL_UNITS:
                values[f"{prefix}_every_n_{unit}"] = given.get(f"every_n_{unit}")
        return cls(**values)

    def every(self, prefix: str) -> dict[str, int | None]:
        """`every_n_*` keyword arguments of the `log` or `track` interval."""
        return {
            f"every_n_{unit}": getattr(self, f"{prefix}_every_n_{unit}") for unit in INTERVAL_UNITS
        }

    def is_set(self, prefix: str) -> bool:
        """Whether the `log` or `track` interval is given."""
        return any(value is not None for value in self.every(prefix).values())


def _as_intervals(
    intervals: DefaultCallbackIntervals | Mapping[str, Mapping[str, int | None]],
) -> DefaultCallbackIntervals:
    if isinstance(intervals, DefaultCallbackIntervals):
        return intervals
    return DefaultCallbackIntervals.from_mapping(intervals)


def build_default_callbacks(
    trainer_config: Any,
    context: CallbackContext,
    intervals: DefaultCallbackIntervals | Mapping[str, Mapping[str, int | None]],
) -> list[CallbackBase]:
    """The default callbacks of a run, in the order they should run.

    Statistics always; the periodic loggers only when there are updates to train (an
    evaluation-only run has nothing to time or average).

    Args:
        trainer_config: the trainer's schema (monitor_training_stability, monitor_interval).
        context: what every callback receives.
        intervals: log / track intervals (a `DefaultCallbackIntervals` or the trainer's dict).
    """
    every = _as_intervals(intervals)
    callbacks: list[CallbackBase] = [
        DatasetStatsCallback(None, context),
        ParamCountCallback(None, context),
    ]
    if context.update_counter.is_finished:
        return callbacks
    for prefix in ("log", "track"):
        if not every.is_set(prefix):
            raise ValueError(f"default callbacks need a {prefix} interval (got none)")
    log, track = every.every("log"), every.every("track")
    # every rank has one (a checkpoint holds rank 0's callback states, so every rank must
    # have the same callbacks to put them back); only rank 0's prints, live on a terminal
    if is_rank0() and sys.stdout.isatty():
        callbacks.append(
            TerminalProgressCallback(
                None,
                context,
                every_n_epochs=log["every_n_epochs"],
                every_n_updates=log["every_n_updates"],
                every_n_samples=log["every_n_samples"],
            )
        )
    else:
        callbacks.append(ProgressCallback(None, context, quiet=not is_rank0(), **log))
    online_loss = OnlineLossCallback(None, context, **track)
    callbacks += [
        online_loss,
        OnlineLossConsoleCallback(None, context, source=online_loss, **log),
        TrainTimeCallback(None, context, **log),
        PeakMemoryCallback(None, context, **log),
        LrCallback(None, context, **track),
    ]
    if getattr(trainer_config, "monitor_training_stability", False):
        callbacks.append(
            TrainingStabilityCallback(
                None, context, every_n_updates=int(trainer_config.monitor_interval)
            )
        )
    return callbacks


__all__ = [
    "DatasetStatsCallback",
    "DefaultCallbackIntervals",
    "LrCallback",
    "OnlineLossCallback",
    "OnlineLossConsoleCallback",
    "ParamCountCallback",
    "PeakMemoryCallback",
    "ProgressCallback",
    "TerminalProgressCallback",
    "TrainTimeCallback",
    "TrainingStabilityCallback",
    "build_default_callbacks",
    "default_intervals",
]
