"""One micro-batch of an update: device move, forward under autocast, scaled backward, and
after the last micro-batch the optimizer step."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from time import perf_counter
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn

from noether.core.callbacks.context import GradNormMeter
from noether.core.data.prefetch import to_device
from noether.core.models.base import ModelBase
from noether.core.precision import autocast_factory, create_grad_scaler, resolve_precision
from noether.core.stopwatch import Stopwatch
from noether.core.trainer.nonfinite import NonFiniteLossGuard, SkipNonFinite
from noether.core.trainer.types import TrainerResult, TrainStepError, describe_non_scalar

if TYPE_CHECKING:
    from noether.config import BaseTrainerConfig

TrainStepFn = Callable[[dict[str, Tensor], nn.Module], TrainerResult]
"""`train_step(batch, model) -> TrainerResult`: the user's forward and loss."""


class StepResult(NamedTuple):
    """What one micro-batch hands to the callbacks."""

    losses: dict[str, Tensor]
    """The step's losses to log (`{"total": total_loss}` when train_step logged none)."""
    outputs: dict[str, Any]
    """train_step's additional outputs (`{}` when it gave None)."""
    timings: dict[str, Stopwatch]
    """One Stopwatch per phase: forward, backward, update (the optimizer step)."""


class TrainStep:
    """Runs one micro-batch and, after the last micro-batch of an update, the optimizer step.

    The loss is weighted by the micro-batch's share of the update's samples (1 / k for k
    equal micro-batches), so micro-batches of 4 and 3 give the gradient of one batch of 7.
    Under DDP, gradients are all-reduced in the last micro-batch only (`no_sync` before).

    Args:
        device: where batches go (moved only when it is not the CPU).
        precision: dtype of the forward pass: float32 runs without autocast; float16 on CUDA
            scales the loss (gradient scaler).
        micro_batch_weights: loss weight of each micro-batch of an update (`split_batch`).
        skip_nonfinite: the skip_nan_loss policy (None: every loss is backpropagated as is).
        logger: where updates without a gradient are reported.
        trainer_name: names the trainer in errors about what train_step returned.
    """

    def __init__(
        self,
        *,
        device: torch.device,
        precision: torch.dtype,
        micro_batch_weights: tuple[float, ...],
        skip_nonfinite: SkipNonFinite | None,
        logger: logging.Logger,
        trainer_name: str,
    ) -> None:
        self.device = device
        self.precision = precision
        self.autocast: Callable[[], AbstractContextManager[object]] | None = (
            None if precision == torch.float32 else autocast_factory(precision, device)
        )
        self.grad_scaler = create_grad_scaler(precision, device)
        self.micro_batch_weights = micro_batch_weights
        self.skip_nonfinite = skip_nonfinite
        self.grad_norm = GradNormMeter()
        """Measures the gradient norm before the optimizer step when a callback wants it."""
        self.logger = logger
        self.trainer_name = trainer_name
        self.ddp_model: torch.nn.parallel.DistributedDataParallel | None = None
        """Set while a DDP-wrapped model trains (its `no_sync` skips early all-reduces)."""
        self.nonfinite_guard: NonFiniteLossGuard | None = None
        """Set while a run checks its losses (stop_on_nan_loss)."""
        self._move_to_device = device.type != "cpu"
        self._backward_steps = 0
        self._stepped = 0
        """Updates of this run that backpropagated a loss (`check_trained`)."""
        self._without_gradient = 0
        """Updates of this run whose losses had no gradient, so the optimizer did not step."""

    @classmethod
    def for_config(
        cls,
        config: BaseTrainerConfig[Any],
        device: torch.device,
        micro_batch_weights: tuple[float, ...],
        logger: logging.Logger,
        trainer_name: str,
    ) -> TrainStep:
        """The step a trainer config asks for: its precision on `device` and its non-finite
        policy (skip_nan_loss)."""
        skip = None
        if config.skip_nan_loss:
            skip = SkipNonFinite(config.skip_nan_loss_max_count, logger, device)
        return cls(
            device=device,
            precision=resolve_precision(config.precision, device),
            micro_batch_weights=micro_batch_weights,
            skip_nonfinite=skip,
            logger=logger,
            trainer_name=trainer_name,
        )

    def run(
        self,
        train_step: TrainStepFn,
        batch: dict[str, Tensor],
        dist_model: nn.Module,
        model: ModelBase,
        steps: int,
        index: int,
        retain_graph: bool = False,
    ) -> StepResult:
        """Forward and backward of micro-batch `index` of `steps`; the optimizer steps after
        the last one. Nothing here reads a device value on the host (see `SkipNonFinite`).

        Raises:
            TrainStepError: train_step returned no TrainerResult, or a total_loss that is not
                a scalar tensor.
        """
        start = perf_counter()
        if self._move_to_device:
            batch = to_device(batch, self.device)
        is_last = index == steps - 1
        ddp = self.ddp_model
        with nullcontext() if is_last or ddp is None else ddp.no_sync():
            result = self._forward(train_step, batch, dist_model)
            forward_end = perf_counter()
            loss = result.total_loss
            detached = loss.detach()
            skip = self.skip_nonfinite
            finite: Tensor | None = None
            if skip is None:
                if loss.requires_grad:
                    self._backward(loss, steps, index, retain_graph)
                    if self.nonfinite_guard is not None:
                        self.nonfinite_guard.add(detached)
            else:  # decided on the device: the gradients of a non-finite loss are masked
                finite = skip.flag(detached)
                if loss.requires_grad:
                    skip.attach(model)
                    with skip.masking(finite):
                        self._backward(loss, steps, index, retain_graph)
        backward_end = perf_counter()
        if is_last:
            self._optimizer_step(model)
        end = perf_counter()
        timings = {
            "forward": Stopwatch(forward_end - start),
            "backward": Stopwatch(backward_end - forward_end),
            "update": Stopwatch(end - backward_end),
        }
        losses = result.losses_to_log
        if losses is None:
            losses = {"total": detached}
        if finite is not None:
            losses = SkipNonFinite.hide_skipped(losses, finite)
        outputs = result.additional_outputs
        return StepResult(losses, {} if outputs is None else outputs, timings)

    def _forward(
        self, train_step: TrainStepFn, batch: dict[str, Tensor], dist_model: nn.Module
    ) -> TrainerResult:
        if self.autocast is None:
            result = train_step(batch, dist_model)
        else:
            with self.autocast():
                result = train_step(batch, dist_model)
        name = self.trainer_name
        if not isinstance(result, TrainerResult):
            raise TrainStepError(
                f"{name}.train_step returned a {type(result).__name__}; it must return "
                "TrainerResult(total_loss, losses_to_log=None, additional_outputs=None)"
            )
        loss = result.total_loss
        if not isinstance(loss, Tensor) or (loss.dim() != 0 and loss.numel() != 1):
            raise TrainStepError(
                f"{name}.train_step returned a TrainerResult whose total_loss is "
                f"{describe_non_scalar(loss)}; it must be a scalar tensor (reduce it, e.g. "
                "with .mean())"
            )
        return result

    def _backward(self, loss: Tensor, steps: int, index: int, retain_graph: bool) -> None:
        if steps > 1:
            weights = self.micro_batch_weights
            # outside the trainer's plan (a direct `update` call) the micro-batches are equal
            loss = loss * weights[index] if len(weights) == steps else loss / steps
        if self.grad_scaler is not None:
            loss = self.grad_scaler.scale(loss)
        loss.backward(retain_graph=retain_graph)  # type: ignore[no-untyped-call]
        self._backward_steps += 1

    def check_trained(self, model: ModelBase) -> None:
        """Raises when no update of this run had a gradient although the model has trainable
        parameters: a loss computed under `torch.no_grad()`, detached or rebuilt from
        `.item()` trained nothing, and the run ended with exit 0.

        Raises:
            TrainStepError: naming the updates and the trainable parameters.
        """
        if self._stepped or not self._without_gradient:
            return
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if trainable == 0:
            return
        raise TrainStepError(
            f"the loss of none of the {self._without_gradient} update(s) this run trained had "
            f"a gradient, while the model has {trainable:,} trainable parameters, so the "
            f"weights never changed: {self.trainer_name}.train_step's total_loss must be "
            "computed from the model's output, not under torch.no_grad(), detached or rebuilt "
            "from .item()"
        )

    def _optimizer_step(self, model: ModelBase) -> None:
        """Optimizer step (unless nothing was backpropagated; undone on the device when
        skip_nan_loss skipped every micro-batch), schedule, zeroed gradients."""
        if self._backward_steps > 0:
            if self.grad_norm.is_wanted:
                self.grad_norm.measure(model.parameters(), self.grad_scaler)
            skip = self.skip_nonfinite
            if skip is None:
                model.optimizer_step(self.grad_scaler)
            else:
                skip.optimizer_step(model, lambda: model.optimizer_step(self.grad_scaler))
            self._stepped += 1
        else:
            self._without_gradient += 1
            if self._without_gradient == 1:  # once: a frozen model has none in any update
                self.logger.warning(
                    "no loss of this update had a gradient: no optimizer step (said once)"
                )
        if self.skip_nonfinite is not None:
            self.skip_nonfinite.end_update()
        model.optimizer_schedule_step()
        model.optimizer_zero_grad()
        self._backward_steps = 0
