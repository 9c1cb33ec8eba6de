"""What a callback may use, in one typed object: the run's collaborators and its live values."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from noether.core.checkpoint.writer import CheckpointWriter
    from noether.core.counters import UpdateCounter
    from noether.core.data.container import DataContainer
    from noether.core.models.base import ModelBase
    from noether.core.runs import PathProvider
    from noether.core.trackers.base import TrackerBase
    from noether.core.trackers.log_writer import LogWriter
    from noether.core.trainer.base import BaseTrainer


def global_norm(tensors: Iterable[Tensor]) -> Tensor | None:
    """L2 norm over all tensors as one 0-d float32 tensor (no host sync); None if empty."""
    norms = [torch.linalg.vector_norm(t.detach(), 2.0, dtype=torch.float32) for t in tensors]
    if not norms:
        return None
    total: Tensor = torch.linalg.vector_norm(torch.stack(norms), 2.0)
    return total


class GradNormMeter:
    """The gradient norm of an update, measured by the train step only when a callback wants it.

    Gradients are zeroed right after the optimizer step, so a callback cannot read them later:
    it says which updates it wants (`want`), the step measures the norm of those updates just
    before the optimizer step (before clipping, divided by the gradient scaler's scale), and
    the callback takes it (`take`) when it logs.
    """

    def __init__(self) -> None:
        self._wanted: list[Callable[[], bool]] = []
        self._last: Tensor | None = None

    def want(self, wanted: Callable[[], bool]) -> None:
        """Registers a predicate, asked before each optimizer step: measure this update?"""
        self._wanted.append(wanted)

    @property
    def is_wanted(self) -> bool:
        """Whether a callback wants the norm of the update that is running."""
        return any(wanted() for wanted in self._wanted)

    def measure(
        self, parameters: Iterable[nn.Parameter], grad_scaler: torch.amp.GradScaler | None
    ) -> None:
        """Called by the train step before the optimizer step: the norm of the gradients."""
        norm = global_norm(p.grad for p in parameters if p.grad is not None)
        if norm is not None and grad_scaler is not None and grad_scaler.is_enabled():
            norm = norm / grad_scaler.get_scale()
        self._last = norm

    def take(self) -> Tensor | None:
        """The last measured norm (None if none was measured since the last take)."""
        norm, self._last = self._last, None
        return norm


@dataclass
class CallbackContext:
    """Everything a callback may use, in one object (the seed passed these one by one).

    `autocast` and `grad_scaler` are the run's mixed-precision settings (evaluation runs
    under the same autocast as training); `grad_norm` hands the gradient norm from the train
    step to the callbacks that want it; `models` holds further models callbacks offer each
    other by name (e.g. `ema=0.999` from the EMA callback), looked up with `model_named`.
    """

    trainer: BaseTrainer | None
    model: ModelBase | None
    data_container: DataContainer
    log_writer: LogWriter | None
    tracker: TrackerBase | None
    path_provider: PathProvider | None
    update_counter: UpdateCounter
    checkpoint_writer: CheckpointWriter | None
    device: torch.device
    logger: logging.Logger
    autocast: Callable[[], AbstractContextManager[object]] = nullcontext
    grad_scaler: torch.amp.GradScaler | None = None
    grad_norm: GradNormMeter = field(default_factory=GradNormMeter)
    models: dict[str, Callable[[], nn.Module]] = field(default_factory=dict)

    def offer_model(self, name: str, provider: Callable[[], nn.Module]) -> None:
        """Makes a model available to other callbacks under `name` (built when first asked)."""
        self.models[name] = provider

    def model_named(self, name: str) -> nn.Module:
        """A model another callback offered under `name`.

        Raises:
            KeyError: nobody offered a model of that name (the message lists the names).
        """
        provider = self.models.get(name)
        if provider is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise KeyError(f"no callback offers a model named {name!r} (offered: {known})")
        return provider()
