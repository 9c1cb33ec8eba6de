"""Gradient norm, parameter norm and the gradient scaler's scale every `monitor_interval`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from noether.core.callbacks.base import PeriodicCallback


def global_norm(tensors: Iterable[Tensor]) -> Tensor | None:
    """L2 norm over all tensors as one 0-d float32 tensor (no host sync); None if empty."""
    items = [t.detach() for t in tensors]
    if not items:
        return None
    norms = torch._foreach_norm(items, 2.0)
    return torch.linalg.vector_norm(torch.stack([n.float() for n in norms]), 2.0)


class TrainingStabilityCallback(PeriodicCallback):
    """Logs `stability/grad_norm`, `stability/param_norm` and `stability/grad_scale`.

    The loop drops gradients right after the optimizer step, so the gradient norm is taken
    just before it: the model's `optimizer_step` is wrapped on this model instance for the
    run (and restored after training). The wrapper only measures on the updates that this
    callback logs; it reports the norm before clipping, divided by the scaler's scale.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._grad_norm: Tensor | None = None
        self._original_step: Callable[..., Any] | None = None

    def _will_log_next_update(self) -> bool:
        counter = self.update_counter
        return self.frequency.due_after_update(
            counter.update + 1,
            counter.sample + counter.effective_batch_size,
            counter.effective_batch_size,
        )

    def before_training(self) -> None:
        model = self.model
        if model is None or not hasattr(model, "optimizer_step"):
            return
        original = model.optimizer_step
        self._original_step = original

        def optimizer_step(grad_scaler: torch.amp.GradScaler | None = None) -> Any:
            if self._will_log_next_update():
                self._measure_grad_norm(grad_scaler)
            return original(grad_scaler)

        model.optimizer_step = optimizer_step

    def _measure_grad_norm(self, grad_scaler: torch.amp.GradScaler | None) -> None:
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = global_norm(grads)
        if norm is not None and grad_scaler is not None and grad_scaler.is_enabled():
            norm = norm / grad_scaler.get_scale()
        self._grad_norm = norm

    def after_training(self) -> None:
        model = self.model
        if self._original_step is not None and model is not None:
            if "optimizer_step" in vars(model):
                del model.optimizer_step
            self._original_step = None

    def periodic_callback(self) -> None:
        writer = self.log_writer
        if writer is None:
            return
        if self._grad_norm is not None:
            writer.add_scalar("stability/grad_norm", self._grad_norm)
            self._grad_norm = None
        model = self.model
        if model is not None:
            param_norm = global_norm(p for p in model.parameters() if p.requires_grad)
            if param_norm is not None:
                writer.add_scalar("stability/param_norm", param_norm)
        scaler = getattr(self.trainer, "grad_scaler", None)
        if scaler is not None and scaler.is_enabled():
            writer.add_scalar("stability/grad_scale", scaler.get_scale())
