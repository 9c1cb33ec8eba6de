"""Logs how many parameters the model trains and how many it keeps frozen."""

from __future__ import annotations

from torch import nn

from noether.core.callbacks.base import CallbackBase


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, frozen) element counts; shared parameters are counted once."""
    trainable = frozen = 0
    seen: set[int] = set()
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        if param.requires_grad:
            trainable += param.numel()
        else:
            frozen += param.numel()
    return trainable, frozen


class ParamCountCallback(CallbackBase):
    """Before training (after freezing): `model/params/trainable` and `model/params/frozen`."""

    def before_training(self) -> None:
        model = self.context.model
        if model is None:
            return
        trainable, frozen = count_parameters(model)
        self.logger.info(
            "%s: %s trainable and %s frozen parameters",
            type(model).__name__,
            f"{trainable:,}",
            f"{frozen:,}",
        )
        writer = self.context.log_writer
        if writer is not None:
            writer.add_summary("model/params/trainable", trainable)
            writer.add_summary("model/params/frozen", frozen)
