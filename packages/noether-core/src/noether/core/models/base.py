"""ModelBase: an nn.Module built from its ModelConfig that owns its optimizer and schedule."""

from __future__ import annotations

import logging

import torch
from torch import nn

from noether.config.schemas.model import ModelConfig
from noether.core.optim.builder import build_optimizer, clip_gradients
from noether.core.optim.schedules import ScheduleBase, build_schedule

logger = logging.getLogger(__name__)


class ModelBase(nn.Module):
    """Base class of every model that noether trains.

    Subclasses build their layers in `__init__` (after `super().__init__(model_config)`) and
    implement `forward`. The trainer calls `initialize(total_updates)` once the model is on its
    device; that builds the optimizer and schedule from `model_config.optimizer`.

    Args:
        model_config: the model's schema (architecture fields, optimizer, is_frozen).
    """

    def __init__(self, model_config: ModelConfig) -> None:
        super().__init__()
        self.model_config = model_config
        self.optimizer: torch.optim.Optimizer | None = None
        self.schedule: ScheduleBase | None = None
        self.is_frozen: bool = model_config.is_frozen
        self.is_initialized: bool = False
        self.nograd_paramnames: list[str] = []
        self._update = 0

    @classmethod
    def check_instance(cls, model: object) -> None:
        """Raises a TypeError naming what is wrong when `model` is no ModelBase, or one whose
        `__init__` did not call `super().__init__(model_config)` (torch's AttributeError
        about `is_initialized` named neither)."""
        if not isinstance(model, ModelBase):
            raise TypeError(
                f"the model is a {type(model).__module__}.{type(model).__qualname__}, not a "
                "noether.core.models.ModelBase: subclass ModelBase (its optimizer, schedule "
                "and freezing come from the model config)"
            )
        if "is_initialized" not in vars(model):
            raise TypeError(
                f"{type(model).__qualname__}.__init__ did not call "
                "super().__init__(model_config), which ModelBase needs first"
            )

    @property
    def device(self) -> torch.device:
        """Device of the first parameter (or buffer); cpu for a model without tensors."""
        for param in self.parameters():
            return param.device
        for buffer in self.buffers():
            return buffer.device
        return torch.device("cpu")

    def initialize(self, total_updates: int) -> None:
        """Freezes the model or builds its optimizer and schedule; idempotent.

        Args:
            total_updates: number of optimizer updates of the run (the schedule's length).
        """
        if self.is_initialized:
            return
        if self.is_frozen:
            for param in self.parameters():
                param.requires_grad_(False)
        self.nograd_paramnames = [
            name for name, param in self.named_parameters() if not param.requires_grad
        ]
        optimizer_config = self.model_config.optimizer
        trainable = any(param.requires_grad for param in self.parameters())
        if optimizer_config is not None and trainable:
            self.optimizer = build_optimizer(optimizer_config, self)
            if optimizer_config.schedule is not None:
                self.schedule = build_schedule(optimizer_config.schedule, total_updates)
            self.set_update(0)
        elif optimizer_config is None and trainable:
            logger.info("%s has no optimizer: its parameters are not trained", type(self).__name__)
        self.is_initialized = True

    def optimizer_step(
        self, grad_scaler: torch.amp.GradScaler | None = None
    ) -> torch.Tensor | None:
        """Clips gradients and steps the optimizer (through `grad_scaler` when given).

        With a scaler, gradients are unscaled before clipping, the step is skipped by the scaler
        when they are not finite, and the scale is updated afterwards.

        Returns:
            The gradient norm before clipping when clip_grad_norm is set, else None.
        """
        optimizer = self.optimizer
        if optimizer is None:
            return None
        config = self.model_config.optimizer
        assert config is not None
        grad_norm = None
        if config.clip_grad_norm is not None or config.clip_grad_value is not None:
            if grad_scaler is not None:
                grad_scaler.unscale_(optimizer)
            grad_norm = clip_gradients(
                self.parameters(), config.clip_grad_norm, config.clip_grad_value
            )
        if grad_scaler is not None:
            grad_scaler.step(optimizer)
            grad_scaler.update()
        else:
            optimizer.step()
        return grad_norm

    def optimizer_zero_grad(self) -> None:
        """Drops the gradients (set to None, which saves memory and an addition)."""
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        else:
            self.zero_grad(set_to_none=True)

    def optimizer_schedule_step(self) -> None:
        """Moves to the next update and sets its learning rate.

        Runs after every update, so it stays cheap: the counter is written straight into the
        instance dict (nn.Module.__setattr__ checks parameters, buffers and modules first),
        and without a schedule the learning rate, set once by `set_update`, is left alone.
        """
        update = self._update + 1
        self.__dict__["_update"] = update
        if self.schedule is not None:
            self._apply_lr(update)

    def set_update(self, update: int) -> None:
        """Sets the learning rate of every group for `update` (0-based), e.g. after resuming."""
        self.__dict__["_update"] = update
        self._apply_lr(update)

    def lr_multiplier(self, update: int) -> float:
        """The schedule's multiplier of every group's `base_lr` at `update` (0-based); 1.0
        without a schedule. What `set_update` applies, and what the lr callback reports for
        an update already done."""
        return 1.0 if self.schedule is None else self.schedule.get_value(update)

    def _apply_lr(self, update: int) -> None:
        optimizer = self.optimizer
        if optimizer is None:
            return
        multiplier = self.lr_multiplier(update)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * multiplier

    @property
    def current_update(self) -> int:
        """The update whose learning rate is set."""
        return self._update
