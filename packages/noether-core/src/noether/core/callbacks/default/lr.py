"""Logs the learning rate that the schedule set, per parameter group."""

from __future__ import annotations

from typing import Any

from noether.core.callbacks.base import PeriodicCallback


def learning_rates(optimizer: Any) -> dict[str, float]:
    """`optim/lr` for the first parameter group, `optim/lr/<group name>` for the others."""
    rates = {}
    for index, group in enumerate(optimizer.param_groups):
        key = "optim/lr" if index == 0 else f"optim/lr/{group.get('name') or index}"
        rates[key] = float(group["lr"])
    return rates


class LrCallback(PeriodicCallback):
    """Every track interval: the learning rate of the next update (what the schedule set)."""

    def periodic_callback(self) -> None:
        optimizer = getattr(self.context.model, "optimizer", None)
        writer = self.context.log_writer
        if optimizer is None or writer is None:
            return
        for key, value in learning_rates(optimizer).items():
            writer.add_scalar(key, value)
