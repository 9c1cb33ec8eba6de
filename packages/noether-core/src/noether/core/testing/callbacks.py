"""Callbacks that record what the loop did, and one that logs scripted metric values."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from noether.config import CallbackConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback
from noether.core.stopwatch import Stopwatch

HookEvent = str | tuple[str, int]
"""An entry of RecordingCallback.log: "before", ("periodic", update) or "after"."""


@dataclass(frozen=True)
class MicroBatchRecord:
    """What `track_after_accumulation_step` was called with."""

    update: int
    """Updates completed before this micro-batch."""
    step: int
    """Index of the micro-batch within its update."""
    steps: int
    """Micro-batches of the update."""
    losses: dict[str, torch.Tensor]
    """The micro-batch's losses, detached."""
    additional_outputs: dict[str, object]
    """What train_step returned besides the losses."""


@dataclass(frozen=True)
class UpdateRecord:
    """What `track_after_update_step` was called with."""

    update: int
    """The update just completed."""
    losses: dict[str, torch.Tensor]
    """The last micro-batch's losses, detached."""
    timings: dict[str, float]
    """Seconds per phase (data_wait, forward, backward, update)."""


class RecordingCallback(PeriodicCallback):
    """Records which hooks the loop called, in order, and with what.

    `log` gets "before", ("periodic", update) and "after"; hand one list to several callbacks
    to see the order in which they ran. The tracking hooks are recorded in `micro_batches` and
    `updates`.

    Args:
        callback_config: its schema, or None when built in code.
        context: the run's callback context.
        log: the list to append hook events to (default: a new one).
        every_n_epochs: run `periodic_callback` every n epochs.
        every_n_updates: ... every n updates.
        every_n_samples: ... every n samples.
    """

    def __init__(
        self,
        callback_config: CallbackConfig | None,
        context: CallbackContext,
        log: list[HookEvent] | None = None,
        *,
        every_n_epochs: int | None = None,
        every_n_updates: int | None = None,
        every_n_samples: int | None = None,
    ) -> None:
        super().__init__(
            callback_config,
            context,
            every_n_epochs=every_n_epochs,
            every_n_updates=every_n_updates,
            every_n_samples=every_n_samples,
        )
        self.log: list[HookEvent] = log if log is not None else []
        self.micro_batches: list[MicroBatchRecord] = []
        self.updates: list[UpdateRecord] = []

    def before_training(self) -> None:
        self.log.append("before")

    def periodic_callback(self) -> None:
        self.log.append(("periodic", self.update_counter.update))

    def after_training(self) -> None:
        self.log.append("after")

    def track_after_accumulation_step(
        self,
        losses: dict[str, torch.Tensor],
        additional_outputs: dict[str, object],
        accumulation_step: int,
        accumulation_steps: int,
    ) -> None:
        self.micro_batches.append(
            MicroBatchRecord(
                self.update_counter.update,
                accumulation_step,
                accumulation_steps,
                {name: loss.detach() for name, loss in losses.items()},
                dict(additional_outputs),
            )
        )

    def track_after_update_step(
        self, losses: dict[str, torch.Tensor], timings: dict[str, Stopwatch]
    ) -> None:
        self.updates.append(
            UpdateRecord(
                self.update_counter.update,
                {name: loss.detach() for name, loss in losses.items()},
                {phase: float(watch) for phase, watch in timings.items()},
            )
        )


class WeightRecorder(PeriodicCallback):
    """Copies the model's weights before training and after every update.

    `history[u]` holds the state dict after update u (`history[0]`: the start), for hand
    computations such as an EMA or checks of which weights a checkpoint kept.
    """

    def __init__(self, context: CallbackContext) -> None:
        super().__init__(None, context)
        self.history: list[dict[str, torch.Tensor]] = []

    def _snapshot(self) -> None:
        state = self.model.state_dict()
        self.history.append({key: value.detach().clone() for key, value in state.items()})

    def before_training(self) -> None:
        self._snapshot()

    def track_after_update_step(
        self, losses: dict[str, torch.Tensor], timings: dict[str, Stopwatch]
    ) -> None:
        self._snapshot()


class MetricScript(PeriodicCallback):
    """Logs `values[u - 1]` as `key` after every update u: a stand-in for an evaluation.

    Listed before a callback that reads the metric (best checkpoint, early stopping), it
    decides exactly what that callback sees.

    Args:
        context: the run's callback context.
        key: the metric's name.
        values: one value per update.
    """

    def __init__(self, context: CallbackContext, key: str, values: list[float]) -> None:
        super().__init__(None, context, every_n_updates=1)
        self.key = key
        self.values = values

    def periodic_callback(self) -> None:
        self.log_writer.add_scalar(self.key, self.values[self.update_counter.update - 1])
