"""Learning-rate schedules: a multiplier of each group's `base_lr` as a function of the update.

Schedules are stateless: `get_value(update)` depends only on the (0-based) update index and the
total number of updates, so resuming or skipping epochs needs no schedule state.
The first update has index 0 and the last `total_updates - 1`; beyond the end, values stay at
their final value.
"""

from __future__ import annotations

import math
from typing import Any

from noether.config.schemas.schedule import (
    ConstantScheduleConfig,
    LinearScheduleConfig,
    LinearWarmupCosineDecayScheduleConfig,
    PolynomialScheduleConfig,
    ScheduleConfig,
    StepScheduleConfig,
)


class ScheduleBase:
    """A multiplier over `total_updates` updates.

    Args:
        config: the schedule's schema.
        total_updates: number of optimizer updates of the whole run.
    """

    def __init__(self, config: ScheduleConfig, total_updates: int) -> None:
        if total_updates < 0:
            raise ValueError(f"total_updates must be >= 0, got {total_updates}")
        self.config = config
        self.total_updates = total_updates

    def get_value(self, update: int) -> float:
        """Multiplier of the learning rate at `update` (0-based)."""
        raise NotImplementedError

    def progress(self, update: int, start: int = 0) -> float:
        """Fraction in [0, 1] of the way from update `start` to the last update."""
        span = self.total_updates - 1 - start
        if span <= 0:
            return 0.0 if update <= start else 1.0
        return min(max((update - start) / span, 0.0), 1.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(total_updates={self.total_updates})"


class ConstantSchedule(ScheduleBase):
    """The same multiplier at every update."""

    config: ConstantScheduleConfig

    def get_value(self, update: int) -> float:
        return self.config.value


class LinearSchedule(ScheduleBase):
    """`start_value` at the first update to `end_value` at the last, linearly."""

    config: LinearScheduleConfig

    def get_value(self, update: int) -> float:
        start, end = self.config.start_value, self.config.end_value
        return start + (end - start) * self.progress(update)


class StepSchedule(ScheduleBase):
    """`gamma ** (update // step_size)`."""

    config: StepScheduleConfig

    def get_value(self, update: int) -> float:
        return float(self.config.gamma ** (max(update, 0) // self.config.step_size))


class PolynomialSchedule(ScheduleBase):
    """`end + (1 - end) * (1 - progress) ** power`: 1 at the first update, end_value at the last."""

    config: PolynomialScheduleConfig

    def get_value(self, update: int) -> float:
        end = self.config.end_value
        return float(end + (1.0 - end) * (1.0 - self.progress(update)) ** self.config.power)


class LinearWarmupCosineDecaySchedule(ScheduleBase):
    """Linear warm-up to 1, then half a cosine down to `end_value` at the last update.

    Warm-up update `u` (0-based) uses `(u + 1) / warmup_updates`, so no update is wasted with a
    zero learning rate and the last warm-up update reaches 1. The decay starts at 1 at update
    `warmup_updates` and reaches `end_value` at update `total_updates - 1`.
    """

    config: LinearWarmupCosineDecayScheduleConfig

    def __init__(self, config: ScheduleConfig, total_updates: int) -> None:
        super().__init__(config, total_updates)
        self.warmup_updates = self.config.warmup_length(total_updates)

    def get_value(self, update: int) -> float:
        warmup = self.warmup_updates
        if update < warmup:
            return (max(update, 0) + 1) / warmup
        end = self.config.end_value
        progress = self.progress(update, start=warmup)
        return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_schedule(config: ScheduleConfig, total_updates: int) -> ScheduleBase:
    """Builds the runtime schedule named by the schema's `target`."""
    schedule_class: Any = config.load_target()
    schedule = schedule_class(config, total_updates=total_updates)
    if not isinstance(schedule, ScheduleBase):
        raise TypeError(f"{config.target} is not a ScheduleBase subclass")
    return schedule
