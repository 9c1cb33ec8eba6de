"""Gradient norm, parameter norm and the gradient scaler's scale every `monitor_interval`."""

from __future__ import annotations

from typing import Any

from noether.core.callbacks.base import PeriodicCallback
from noether.core.callbacks.context import global_norm


class TrainingStabilityCallback(PeriodicCallback):
    """Logs `stability/grad_norm`, `stability/param_norm` and `stability/grad_scale`.

    Gradients are dropped right after the optimizer step, so the train step measures the
    gradient norm just before it, on the updates this callback logs (`GradNormMeter`): the
    norm before clipping, divided by the gradient scaler's scale.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context.grad_norm.want(self._logs_after_this_update)

    def _logs_after_this_update(self) -> bool:
        """Asked during an update, before the counter counts it."""
        counter = self.update_counter
        return self.frequency.due_after_update(
            counter.update + 1,
            counter.sample + counter.effective_batch_size,
            counter.effective_batch_size,
        )

    def periodic_callback(self) -> None:
        writer = self.context.log_writer
        if writer is None:
            return
        grad_norm = self.context.grad_norm.take()
        if grad_norm is not None:
            writer.add_scalar("stability/grad_norm", grad_norm)
        model = self.context.model
        if model is not None:
            param_norm = global_norm(p for p in model.parameters() if p.requires_grad)
            if param_norm is not None:
                writer.add_scalar("stability/param_norm", param_norm)
        scaler = self.context.grad_scaler
        if scaler is not None and scaler.is_enabled():
            writer.add_scalar("stability/grad_scale", scaler.get_scale())
