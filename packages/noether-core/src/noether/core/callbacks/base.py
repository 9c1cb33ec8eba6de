"""Callback framework: one context object, periodic scheduling, dataset-iterating callbacks."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from noether.config import CallbackConfig
from noether.core.callbacks.context import CallbackContext
from noether.core.counters import Frequency
from noether.core.data.sharding import shard_indices, unshard
from noether.core.distributed import all_gather_tensor, get_rank, get_world_size

if TYPE_CHECKING:
    from noether.core.checkpoint.writer import CheckpointWriter
    from noether.core.counters import UpdateCounter
    from noether.core.data.container import DataContainer
    from noether.core.models.base import ModelBase
    from noether.core.runs import PathProvider
    from noether.core.stopwatch import Stopwatch
    from noether.core.trackers.base import TrackerBase
    from noether.core.trackers.log_writer import LogWriter
    from noether.core.trainer.base import BaseTrainer

T = TypeVar("T")

CallBackBaseConfig = CallbackConfig
"""The seed's name of the callback schema root (`noether.config.CallbackConfig`)."""


class CallbackBase:
    """A hook into training; keeps its own state in the checkpoint under `state_key`."""

    def __init__(self, callback_config: CallbackConfig | None, context: CallbackContext) -> None:
        self.config = callback_config
        self.context = context
        self.logger = logging.getLogger(type(self).__name__)
        kind = getattr(callback_config, "kind", None)
        self._state_key: str = kind if isinstance(kind, str) and kind else type(self).__name__
        self.config_key: str | None = None
        """Where the config sits in the experiment (`trainer.callbacks.2`); set by the trainer
        for the callbacks of `trainer.callbacks`, None for others."""

    def config_key_path(self, field: str) -> str | None:
        """The key path of one of the config's fields (`trainer.callbacks.2.keys`), for errors
        that point at the experiment file's line; None where the config sits nowhere."""
        return f"{self.config_key}.{field}" if self.config_key is not None else None

    # shortcuts to the context, so subclasses read like the seed's callbacks; the model and
    # the writers raise a clear error where a run has none (read `self.context` to tell
    # whether there is one)
    @property
    def trainer(self) -> BaseTrainer | None:
        return self.context.trainer

    @property
    def model(self) -> ModelBase:
        return self._required(self.context.model, "a model")

    @property
    def data_container(self) -> DataContainer:
        return self.context.data_container

    @property
    def log_writer(self) -> LogWriter:
        return self._required(self.context.log_writer, "a tracker (log writer)")

    @property
    def tracker(self) -> TrackerBase | None:
        return self.context.tracker

    @property
    def path_provider(self) -> PathProvider | None:
        return self.context.path_provider

    @property
    def update_counter(self) -> UpdateCounter:
        return self.context.update_counter

    @property
    def checkpoint_writer(self) -> CheckpointWriter:
        return self._required(self.context.checkpoint_writer, "a run folder (checkpoint writer)")

    @property
    def device(self) -> torch.device:
        return self.context.device

    def _required(self, value: T | None, what: str) -> T:
        if value is None:
            raise RuntimeError(f"{type(self).__name__} needs {what}, and this run has none")
        return value

    @property
    def state_key(self) -> str:
        """Key of this callback's state in the trainer checkpoint (made unique by the trainer)."""
        return self._state_key

    @state_key.setter
    def state_key(self, value: str) -> None:
        self._state_key = value

    def before_training(self) -> None:
        """Runs once before the first update (also in evaluation-only runs)."""

    def after_training(self) -> None:
        """Runs once after the last update, also when a callback stopped training early."""

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint; empty for stateless callbacks."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores what `state_dict` returned."""
        del state_dict

    def __repr__(self) -> str:
        return f"{type(self).__name__}(state_key={self.state_key!r})"


class PeriodicCallback(CallbackBase):
    """Runs `periodic_callback` every n epochs, updates or samples.

    The interval comes from the config's `every_n_*` or, for default callbacks that have no
    config, from the keyword arguments. Tracking hooks run at every (accumulation) step; the
    loop only calls them on callbacks whose class overrides them, so leave them alone when
    not needed.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("after_update", "after_epoch"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__qualname__}.{name} would never be called: the loop runs "
                    "periodic_callback when should_run says it is due; override those (or "
                    "track_after_update_step for work after every update)"
                )

    def __init__(
        self,
        callback_config: CallbackConfig | None,
        context: CallbackContext,
        *,
        every_n_epochs: int | None = None,
        every_n_updates: int | None = None,
        every_n_samples: int | None = None,
    ) -> None:
        super().__init__(callback_config, context)
        if callback_config is not None and not (
            every_n_epochs or every_n_updates or every_n_samples
        ):
            every_n_epochs = getattr(callback_config, "every_n_epochs", None)
            every_n_updates = getattr(callback_config, "every_n_updates", None)
            every_n_samples = getattr(callback_config, "every_n_samples", None)
        self.frequency = Frequency(every_n_epochs, every_n_updates, every_n_samples)

    @property
    def every_n_epochs(self) -> int | None:
        return self.frequency.every_n_epochs

    @property
    def every_n_updates(self) -> int | None:
        return self.frequency.every_n_updates

    @property
    def every_n_samples(self) -> int | None:
        return self.frequency.every_n_samples

    def should_run(self, end_of_epoch: bool = False) -> bool:
        """Whether `periodic_callback` is due now (after an update, or after an epoch)."""
        counter = self.update_counter
        if end_of_epoch:
            return self.frequency.due_after_epoch(counter.epoch)
        return self.frequency.due_after_update(
            counter.update, counter.sample, counter.effective_batch_size
        )

    def next_update_due(self) -> int | None:
        """The first update after the current one at which `should_run` may be true.

        The loop asks `should_run` only from that update on, so a callback that is not due
        costs one integer compare. None: never due after an update (epochs only). A subclass
        that overrides `should_run` is asked at every update unless it overrides this too.
        """
        counter = self.update_counter
        if type(self).should_run is not PeriodicCallback.should_run:
            return counter.update + 1
        return self.frequency.next_update_due(
            counter.update, counter.sample, counter.effective_batch_size
        )

    def track_after_accumulation_step(
        self,
        losses: dict[str, torch.Tensor],
        additional_outputs: dict[str, Any],
        accumulation_step: int,
        accumulation_steps: int,
    ) -> None:
        """After each micro-batch's backward; `losses` are the step's (unscaled) losses
        (`{"total": total_loss}` when train_step logged none), `additional_outputs` `{}` when
        train_step gave None."""

    def track_after_update_step(
        self, losses: dict[str, torch.Tensor], timings: dict[str, Stopwatch]
    ) -> None:
        """After each optimizer update; `losses` are the last micro-batch's, `timings` one
        `Stopwatch` per phase (`data_wait`, `forward`, `backward`, `update`; its
        `elapsed_seconds` summed over the micro-batches)."""

    def periodic_callback(self) -> None:
        """The periodic work (log, evaluate, save, ...)."""

    def __repr__(self) -> str:
        freq = self.frequency
        parts = [f"state_key={self.state_key!r}"]
        for unit in ("epochs", "updates", "samples"):
            every = getattr(freq, f"every_n_{unit}")
            if every:
                parts.append(f"every_n_{unit}={every}")
        return f"{type(self).__name__}({', '.join(parts)})"


class PeriodicDataIteratorCallback(PeriodicCallback):
    """A periodic callback that reads its own dataset through the trainer's one DataLoader.

    When due, the loop hands it exactly the batches of its dataset's shard (the last one may
    be smaller); `process_data` runs per batch under `torch.no_grad()` and autocast with the
    model in eval mode, then `process_results` once with the list of all per-batch results.
    """

    def __init__(
        self,
        callback_config: CallbackConfig | None,
        context: CallbackContext,
        *,
        dataset_key: str | None = None,
        batch_size: int | None = None,
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
        self.dataset_key: str = dataset_key or getattr(callback_config, "dataset_key", None) or ""
        if not self.dataset_key:
            raise ValueError(f"{type(self).__name__} needs a dataset_key")
        self.batch_size: int | None = batch_size or getattr(callback_config, "batch_size", None)
        self._batches: Iterable[dict[str, torch.Tensor]] | None = None

    @property
    def dataset_length(self) -> int:
        """Number of items of this callback's dataset."""
        return len(self.data_container.get_dataset(self.dataset_key))  # type: ignore[arg-type]

    def sample_indices(self) -> list[int]:
        """Indices of the dataset that this rank evaluates (padded to the same count)."""
        return shard_indices(self.dataset_length, get_rank(), get_world_size())

    def set_batches(self, batches: Iterable[dict[str, torch.Tensor]]) -> None:
        """Called by the loop right before `periodic_callback` with this run's batches."""
        self._batches = batches

    def process_data(self, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> Any:
        """Per batch: e.g. predictions or per-sample losses (tensors with samples in dim 0)."""
        raise NotImplementedError(f"{type(self).__name__} must implement process_data")

    def process_results(self, results: list[Any]) -> None:
        """Once per run with all batches' results: reduce, log, ..."""
        raise NotImplementedError(f"{type(self).__name__} must implement process_results")

    def periodic_callback(self) -> None:
        """Feeds the batches handed in by the loop through `process_data`, then reduces."""
        batches = self._batches
        self._batches = None
        if batches is None:
            raise RuntimeError(
                f"{type(self).__name__} ran without batches: it reads data through the trainer"
            )
        model = self.model
        was_training = model.training
        model.eval()
        try:
            results = []
            with torch.no_grad():
                for batch in batches:
                    with self.context.autocast():
                        results.append(self.process_data(batch, model))
        finally:
            model.train(was_training)
        self.process_results(results)

    def gather_results(self, values: list[torch.Tensor]) -> torch.Tensor:
        """Per-sample tensors of all batches, from all ranks, in dataset order, padding dropped.

        `values` are this rank's per-batch tensors with samples in dim 0; the result has
        exactly `dataset_length` rows on every rank.
        """
        local = torch.cat(values, dim=0)
        return unshard(all_gather_tensor(local), self.dataset_length)


__all__ = [
    "CallBackBaseConfig",
    "CallbackBase",
    "CallbackContext",
    "PeriodicCallback",
    "PeriodicDataIteratorCallback",
]
