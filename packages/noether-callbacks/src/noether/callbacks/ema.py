"""The `ema` kind: exponential moving averages of the model weights."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import torch
from torch import nn

from noether.callbacks.kept_tags import KeptTags
from noether.config.schemas.callbacks import EmaCallbackConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback
from noether.core.checkpoint.folders import ema_file
from noether.core.checkpoint.writer import LATEST_TAG, unwrap_model


def averaged_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of `model` in eval mode, without its optimizer and schedule."""
    memo: dict[int, Any] = {}
    for name in ("optimizer", "schedule"):
        attribute = getattr(model, name, None)
        if attribute is not None:
            memo[id(attribute)] = None  # deepcopy returns None for these
    clone = copy.deepcopy(model, memo)
    clone.eval()
    clone.requires_grad_(False)
    return clone


def ema_model_name(factor: float) -> str:
    """The name under which the averaged model of one factor is offered to other callbacks."""
    return f"ema={factor:g}"


def ema_metric_segment(factor: float) -> str:
    """How metrics of the EMA weights of one factor are marked in their keys
    (`loss/val/ema0.999/total`), so a reader of the metric knows which weights scored."""
    return f"ema{factor:g}"


_EMA_SEGMENT = re.compile(r"(?:^|/)ema([0-9.]+(?:e-?[0-9]+)?)(?:/|$)")


def ema_factor_in_key(key: str) -> float | None:
    """The EMA factor whose weights a metric key measures (see `ema_metric_segment`)."""
    found = _EMA_SEGMENT.search(key)
    if found is None:
        return None
    try:
        return float(found.group(1))
    except ValueError:
        return None


def ema_filename(factor: float) -> str:
    """Weights file of one factor inside a checkpoint folder (the rule lives in core, where
    `noether.core.load_model` reads it)."""
    return ema_file(factor)


class EmaCallback(PeriodicCallback):
    """Keeps `ema = f * ema + (1 - f) * weights` for each target factor after every update.

    Parameters are averaged, buffers (e.g. batch-norm statistics) copied. The averages start
    from the weights at the start of training and live in the trainer state (exact resume);
    when due, they are written as `checkpoint_dir/<tag>/model_ema=<f>.pt` (and/or `latest/`).
    With `keep_last: k` it claims the tags it writes, as a checkpoint callback does, and
    deletes those before its newest k (a tag another callback keeps stays); the tags are part
    of its state, so the rule holds across a resume. List `ema` before an `offline_loss` that
    evaluates it (`ema_factor`).
    """

    def __init__(self, callback_config: EmaCallbackConfig, context: CallbackContext) -> None:
        super().__init__(callback_config, context)
        self.ema_config = callback_config
        self.factors = list(callback_config.target_factors)
        self.ema_models: dict[float, nn.Module] = {}
        self._pending_state: dict[str, Any] | None = None
        self.kept = KeptTags(callback_config.keep_last, self.logger)
        """The tagged folders it wrote and keeps (booked with keep_last only)."""
        for factor in self.factors:
            context.offer_model(ema_model_name(factor), functools.partial(self.get_model, factor))

    def _ensure_models(self) -> None:
        if self.ema_models:
            return
        source = unwrap_model(self.model)
        self.ema_models = {factor: averaged_copy(source) for factor in self.factors}
        if self._pending_state is not None:
            self._apply_state(self._pending_state)
            self._pending_state = None

    def before_training(self) -> None:
        """Starts the averages from the current (initialised or resumed) weights; after a
        resume, deletes the folders it was pruning when the checkpoint was written."""
        self._ensure_models()
        self.kept.delete_left_behind(self.context.checkpoint_writer, self.state_key)

    def get_model(self, factor: float) -> nn.Module:
        """The averaged model of one factor (for evaluation callbacks)."""
        self._ensure_models()
        if factor not in self.ema_models:
            known = ", ".join(f"{f:g}" for f in self.factors)
            raise KeyError(f"ema has no target factor {factor:g} (target_factors: {known})")
        return self.ema_models[factor]

    @torch.no_grad()
    def track_after_update_step(self, losses: dict[str, torch.Tensor], timings: Any) -> None:
        """One averaging step per optimizer update."""
        self._ensure_models()
        source = unwrap_model(self.model)
        params = [p.detach() for p in source.parameters()]
        buffers = list(source.buffers())
        for factor, ema_model in self.ema_models.items():
            ema_params: list[torch.Tensor] = list(ema_model.parameters())
            torch._foreach_lerp_(ema_params, params, 1.0 - factor)
            for ema_buffer, buffer in zip(ema_model.buffers(), buffers, strict=True):
                ema_buffer.copy_(buffer)

    def periodic_callback(self) -> None:
        """Writes the averaged weights of every factor (files on rank 0 only)."""
        self._ensure_models()
        writer = self.checkpoint_writer
        tags, stale = [], []
        if self.ema_config.save_weights:
            tags.append(self.update_counter.tag)
            if self.ema_config.keep_last is not None:
                stale = self.kept.add(self.update_counter.tag, writer, self.state_key)
        if self.ema_config.save_latest_weights:
            tags.append(LATEST_TAG)
        for tag in tags:
            for factor, ema_model in self.ema_models.items():
                writer.save_object(ema_model.state_dict(), tag, ema_filename(factor))
        self.kept.delete(stale, writer, self.state_key)

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights of every factor, and the tags it keeps."""
        self._ensure_models()
        return {
            "factors": list(self.factors),
            "ema": {repr(f): m.state_dict() for f, m in self.ema_models.items()},
            **self.kept.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the averages (before or after before_training, whichever comes first) and
        the tags it keeps (claimed again, so another callback's pruning leaves them)."""
        if self.ema_config.keep_last is not None:
            self.kept.load_state_dict(state_dict, self.context.checkpoint_writer, self.state_key)
        if not self.ema_models:
            self._pending_state = state_dict
            return
        self._apply_state(state_dict)

    def _apply_state(self, state_dict: dict[str, Any]) -> None:
        saved = [float(f) for f in state_dict["factors"]]
        if sorted(saved) != sorted(self.factors):
            raise ValueError(
                f"ema: the checkpoint holds target_factors {saved}, the config asks for "
                f"{self.factors}; resume with the same target_factors"
            )
        for factor, ema_model in self.ema_models.items():
            ema_model.load_state_dict(state_dict["ema"][repr(factor)])
