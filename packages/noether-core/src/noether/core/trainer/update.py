"""One micro-batch of an update: forward, loss, scaled backward, and the optimizer step."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from time import perf_counter
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from noether.core.distributed import all_reduce_gradients_mean, all_reduce_min
from noether.core.stopwatch import Stopwatch
from noether.core.trainer.nonfinite import NonFiniteLossGuard
from noether.core.trainer.types import (
    NonFiniteLossError,
    TrainerResult,
    TrainStepError,
    describe_non_scalar,
)

if TYPE_CHECKING:
    from noether.config import BaseTrainerConfig


_NO_CONTEXT = nullcontext()
"""Stands in for DDP's no_sync where gradients are all-reduced (stateless, so shared)."""


UpdateResult = tuple[dict[str, Tensor], dict[str, Any], dict[str, Stopwatch]]
"""(losses_to_log, additional_outputs, timings) of one micro-batch."""


__all__ = ["NonFiniteLossError", "UpdateResult", "UpdateStepMixin"]


class UpdateStepMixin:
    """The `update` of BaseTrainer, kept apart so the loop module stays small."""

    config: BaseTrainerConfig[Any]
    device: torch.device
    logger: logging.Logger
    grad_scaler: torch.amp.GradScaler | None
    autocast: Callable[[], Any]
    skip_nan_loss_counter: int
    _ddp_model: torch.nn.parallel.DistributedDataParallel | None
    _backward_steps: int
    _move_to_device: bool
    _autocast_enabled: bool
    _nonfinite_guard: NonFiniteLossGuard | None
    _micro_batch_weights: tuple[float, ...] = ()
    """Loss weight of each micro-batch of an update: its share of the samples (`split_batch`)."""

    def train_step(self, batch: dict[str, Tensor], model: torch.nn.Module) -> TrainerResult:
        raise NotImplementedError

    def update(
        self,
        batch: dict[str, Tensor],
        dist_model: torch.nn.Module,
        model: Any,
        accumulation_steps_total: int,
        accumulation_step: int,
        retain_graph: bool = False,
    ) -> UpdateResult:
        """Forward and backward of one micro-batch; the optimizer steps after the last one.

        The loss is weighted by the micro-batch's share of the update's samples (1 / k for k
        equal micro-batches), so micro-batches of 4 and 3 give the gradient of one batch of 7.
        Under DDP, gradients are only all-reduced on the last micro-batch (`no_sync` before).
        With skip_nan_loss, a non-finite loss on any rank skips the backward on all ranks; an
        update whose micro-batches were all skipped takes no step.

        Returns:
            (losses_to_log, additional_outputs, timings): `losses_to_log` is `{"total": loss}`
            when train_step gave None, `additional_outputs` `{}`; timings are `Stopwatch`es of
            the forward, backward and update (optimizer step) phases.

        Raises:
            TrainStepError: train_step returned no TrainerResult, or a total_loss that is not
                a scalar tensor.
        """
        start = perf_counter()
        if self._move_to_device:
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        is_last = accumulation_step == accumulation_steps_total - 1
        ddp = self._ddp_model
        # under DDP, gradients are all-reduced in the last micro-batch only
        with _NO_CONTEXT if is_last or ddp is None else ddp.no_sync():
            if self._autocast_enabled:
                with self.autocast():
                    result = self.train_step(batch, dist_model)
            else:
                result = self.train_step(batch, dist_model)
            forward_end = perf_counter()
            if not isinstance(result, TrainerResult):
                raise TrainStepError(
                    f"{type(self).__name__}.train_step returned a {type(result).__name__}; it "
                    "must return TrainerResult(total_loss, losses_to_log=None, "
                    "additional_outputs=None)"
                )
            loss = result.total_loss
            if not isinstance(loss, Tensor) or (loss.dim() != 0 and loss.numel() != 1):
                raise TrainStepError(
                    f"{type(self).__name__}.train_step returned a TrainerResult whose "
                    f"total_loss is {describe_non_scalar(loss)}; it must be a scalar tensor "
                    "(reduce it, e.g. with .mean())"
                )
            skipped = self.config.skip_nan_loss and self._skip_nonfinite(loss)
            if not skipped and loss.requires_grad:
                if accumulation_steps_total > 1:
                    weights = self._micro_batch_weights
                    if len(weights) == accumulation_steps_total:
                        loss = loss * weights[accumulation_step]
                    else:  # called outside the trainer's plan
                        loss = loss / accumulation_steps_total
                if self.grad_scaler is not None:
                    loss = self.grad_scaler.scale(loss)
                loss.backward(retain_graph=retain_graph)
                self._backward_steps += 1
                if self._nonfinite_guard is not None:
                    self._nonfinite_guard.add(result.total_loss)
        backward_end = perf_counter()
        if is_last:  # optimizer step (unless nothing was backpropagated), schedule, zero grads
            if self._backward_steps > 0:
                if skipped and ddp is not None:
                    # DDP reduces gradients in the last backward, which all ranks skipped
                    all_reduce_gradients_mean(model)
                model.optimizer_step(self.grad_scaler)
            else:
                self.logger.warning(
                    "all micro-batches of this update were skipped: no optimizer step"
                )
            model.optimizer_schedule_step()
            model.optimizer_zero_grad()
            self._backward_steps = 0
        end = perf_counter()
        timings = {
            "forward": Stopwatch(forward_end - start),
            "backward": Stopwatch(backward_end - forward_end),
            "update": Stopwatch(end - backward_end),
        }
        losses = result.losses_to_log
        if losses is None:
            losses = {"total": result.total_loss.detach()}
        outputs = result.additional_outputs
        return losses, {} if outputs is None else outputs, timings

    def _skip_nonfinite(self, loss: Tensor) -> bool:
        """Whether all ranks skip this micro-batch: one host sync, only with skip_nan_loss."""
        finite = torch.isfinite(loss.detach()).all().to(torch.float32).reshape(1)
        all_reduce_min(finite)
        if bool(finite.item()):
            self.skip_nan_loss_counter = 0
            return False
        self.skip_nan_loss_counter += 1
        limit = self.config.skip_nan_loss_max_count
        if self.skip_nan_loss_counter > limit:
            raise NonFiniteLossError(
                f"the loss was NaN or infinite {self.skip_nan_loss_counter} times in a row "
                f"(skip_nan_loss_max_count={limit}); check the data, learning rate and precision"
            )
        self.logger.warning(
            "non-finite loss: skipping this micro-batch (%d in a row, at most %d)",
            self.skip_nan_loss_counter,
            limit,
        )
        return True
