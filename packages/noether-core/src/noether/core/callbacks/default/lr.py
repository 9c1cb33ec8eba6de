"""Logs the learning rate that the schedule set, per parameter group."""

from __future__ import annotations

from typing import Any

from noether.core.callbacks.base import PeriodicCallback


def _lr_key(index: int, group: dict[str, Any]) -> str:
    return "optim/lr" if index == 0 else f"optim/lr/{group.get('name') or index}"


def learning_rates(optimizer: Any) -> dict[str, float]:
    """`optim/lr` for the first parameter group, `optim/lr/<group name>` for the others."""
    return {_lr_key(i, group): float(group["lr"]) for i, group in enumerate(optimizer.param_groups)}


class LrCallback(PeriodicCallback):
    """Every track interval: the learning rate of the next update (what the schedule set)."""

    def periodic_callback(self) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        writer = self.log_writer
        if optimizer is None or writer is None:
            return
        groups = optimizer.param_groups
        if len(groups) == 1:  # the common case: one key, no dict
            writer.add_scalar("optim/lr", float(groups[0]["lr"]))
            return
        for key, value in learning_rates(optimizer).items():
            writer.add_scalar(key, value)
