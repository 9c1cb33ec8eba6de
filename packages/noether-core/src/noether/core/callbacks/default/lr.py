"""Logs the learning rate that each update used, per parameter group."""

from __future__ import annotations

from typing import Any

from noether.core.callbacks.base import PeriodicCallback
from noether.core.models.base import ModelBase


def learning_rates(optimizer: Any, multiplier: float | None = None) -> dict[str, float]:
    """`optim/lr` for the first parameter group, `optim/lr/<group name>` for the others: each
    group's `base_lr * multiplier`, or its current `lr` when no multiplier is given."""
    rates = {}
    for index, group in enumerate(optimizer.param_groups):
        key = "optim/lr" if index == 0 else f"optim/lr/{group.get('name') or index}"
        lr = group["lr"] if multiplier is None else group["base_lr"] * multiplier
        rates[key] = float(lr)
    return rates


class LrCallback(PeriodicCallback):
    """Every track interval: the learning rate that the update just done used.

    A row of the tracker holds the metrics of the update it names (`update: 1` is the first),
    so its lr is that update's too. The optimizer already holds the next update's lr by then
    (the schedule moves on after each step), so a scheduled model reports the lr of the
    update done from its schedule; before any update (an evaluation-only run) the first
    update's lr is reported.
    """

    def periodic_callback(self) -> None:
        model = self.context.model
        optimizer = getattr(model, "optimizer", None)
        writer = self.context.log_writer
        if optimizer is None or writer is None:
            return
        done = self.context.update_counter.update
        multiplier = None
        if isinstance(model, ModelBase) and model.schedule is not None and done > 0:
            multiplier = model.lr_multiplier(done - 1)
        for key, value in learning_rates(optimizer, multiplier).items():
            writer.add_scalar(key, value)
