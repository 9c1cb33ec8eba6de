"""Runs a callback's hooks in the loop's order without a trainer, model or data loader."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset

from noether.core.callbacks.base import PeriodicCallback, PeriodicDataIteratorCallback
from noether.core.callbacks.context import CallbackContext
from noether.core.counters import UpdateCounter
from noether.core.data.container import DataContainer
from noether.core.data.interleaved import IteratorSlot
from noether.core.data.loader import collate_tensor_dicts
from noether.core.stopwatch import Stopwatch
from noether.core.testing.datasets import PairDataset
from noether.core.testing.trackers import RecordingTracker
from noether.core.trackers.log_writer import LogWriter

if TYPE_CHECKING:
    from noether.core.models.base import ModelBase
    from noether.core.trainer.base import BaseTrainer


class CallbackHarness:
    """A real CallbackContext (counter, LogWriter, RecordingTracker, data) around no loop.

    `step(...)` plays what the loop does around one update, so a callback's hooks run in the
    loop's order: accumulation tracking, counter, update tracking, periodic (a due
    `PeriodicDataIteratorCallback` gets its dataset's batches first), flush. What the
    callback logged is then in `tracker.rows`.

    Args:
        model: what `callback.model` returns.
        updates_per_epoch: updates that make an epoch.
        effective_batch_size: samples per update.
        max_updates: the run's length.
        trainer: what `callback.trainer` returns (a stand-in with the attributes it reads).
        datasets: the run's datasets (default: a PairDataset as `train`).
    """

    def __init__(
        self,
        model: ModelBase | None = None,
        updates_per_epoch: int = 4,
        effective_batch_size: int = 4,
        max_updates: int = 100,
        trainer: BaseTrainer | None = None,
        datasets: Mapping[str, Dataset[dict[str, torch.Tensor]]] | None = None,
    ) -> None:
        self.tracker = RecordingTracker()
        self.log_writer = LogWriter(self.tracker)
        self.counter = UpdateCounter(
            updates_per_epoch=updates_per_epoch,
            effective_batch_size=effective_batch_size,
            max_updates=max_updates,
        )
        self.context = CallbackContext(
            trainer=trainer,
            model=model,
            data_container=DataContainer(datasets or {"train": PairDataset()}),
            log_writer=self.log_writer,
            tracker=self.tracker,
            path_provider=None,
            update_counter=self.counter,
            checkpoint_writer=None,
            device=torch.device("cpu"),
            logger=logging.getLogger("noether.core.testing"),
        )

    def step(
        self,
        callbacks: PeriodicCallback | Sequence[PeriodicCallback],
        losses: list[dict[str, torch.Tensor]] | None = None,
        timings: dict[str, Stopwatch] | None = None,
    ) -> None:
        """One update for one callback or a list of them (each hook in list order).

        Args:
            callbacks: the callbacks, in the order the loop would call them.
            losses: one dict of losses per micro-batch (default: one with a zero total).
            timings: what `track_after_update_step` gets (default: nothing).
        """
        group = [callbacks] if isinstance(callbacks, PeriodicCallback) else list(callbacks)
        steps = losses or [{"total": torch.tensor(0.0)}]
        for index, step_losses in enumerate(steps):
            for callback in group:
                callback.track_after_accumulation_step(step_losses, {}, index, len(steps))
        self.counter.add_update()
        for callback in group:
            callback.track_after_update_step(steps[-1], timings or {})
        for callback in group:
            if callback.should_run(end_of_epoch=False):
                self._run(callback)
        if self.counter.update % self.counter.updates_per_epoch == 0:
            self.counter.add_epoch()
            for callback in group:
                if callback.should_run(end_of_epoch=True):
                    self._run(callback)
        self.log_writer.flush(self.counter)

    def _run(self, callback: PeriodicCallback) -> None:
        """`periodic_callback`, after handing a data-iterating callback its batches as the
        loop does (its shard of its dataset, in batches of its `batch_size`, else of the
        effective batch size)."""
        if isinstance(callback, PeriodicDataIteratorCallback):
            dataset = self.context.data_container.get_dataset(callback.dataset_key)
            size = callback.batch_size or self.counter.effective_batch_size
            slot = IteratorSlot(callback.frequency, callback.sample_indices(), size)
            callback.set_batches(
                collate_tensor_dicts([dataset[index] for index in chunk])
                for chunk in slot.batches()
            )
        callback.periodic_callback()
