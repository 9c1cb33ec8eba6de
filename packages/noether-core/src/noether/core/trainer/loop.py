"""The loop over updates and epochs: micro-batches through the step, then the callbacks."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any, Protocol

import torch
from torch import Tensor

from noether.config.batching import METADATA_PREFIX
from noether.core.callbacks.base import PeriodicCallback, PeriodicDataIteratorCallback
from noether.core.callbacks.dispatch import CallbackDispatcher, DueSchedule, overrides
from noether.core.checkpoint.folders import UNIT_FILES
from noether.core.checkpoint.writer import LATEST_TAG, CheckpointWriter, signal_tag
from noether.core.counters import UpdateCounter
from noether.core.data.container import per_rank_batches
from noether.core.data.prefetch import CudaPrefetcher, to_device
from noether.core.signals import StopAgreement, StopRequest
from noether.core.stopwatch import Stopwatch
from noether.core.trackers.log_writer import LogWriter
from noether.core.trainer.nonfinite import FiniteWeightsCheck, NonFiniteLossGuard, SkipNonFinite
from noether.core.trainer.step import StepResult

STEP_HOOK = "track_after_accumulation_step"
UPDATE_HOOK = "track_after_update_step"

Batch = dict[str, Any]
RunStep = Callable[[Batch, int], StepResult]
"""`run_step(batch, index)`: one micro-batch of an update (see `TrainStep.run`)."""


class SaveCheckpoint(Protocol):
    """`CheckpointWriter.save` of the run's model and trainer."""

    def __call__(
        self, tag: str, *, also_as: Mapping[str, Collection[str]] | None = None
    ) -> Path: ...


def drop_metadata(batch: Batch) -> Batch:
    """The batch without `__meta*` keys (bookkeeping that the model must not see).

    Raises:
        TypeError: the batch is no mapping (the dataset's items are not dicts).
    """
    if not isinstance(batch, dict) and not isinstance(batch, Mapping):  # dict: no ABC check
        raise TypeError(
            f"a batch is a {type(batch).__name__}, not a dict: a dataset's __getitem__ returns "
            "each item as a dict of named tensors ({'x': ..., 'y': ...}), whose keys "
            "forward_properties and target_properties name"
        )
    if any(str(key).startswith(METADATA_PREFIX) for key in batch):
        return {k: v for k, v in batch.items() if not str(k).startswith(METADATA_PREFIX)}
    return batch


def _add_timings(total: dict[str, Stopwatch], step: dict[str, Stopwatch]) -> None:
    """Sums one micro-batch's phase timings into the update's."""
    for key, watch in step.items():
        if key in total:
            total[key].elapsed_seconds += watch.elapsed_seconds
        else:
            total[key] = watch


class TrainingLoop:
    """Runs updates until the counter is finished, a callback stops, or a signal arrives.

    After each update, in this order: the epoch advances (if it ended), the callbacks run
    (update hooks, due callbacks, epoch callbacks), the metrics row is written, the loss is
    checked when due, and the checkpoints that callbacks asked for are written. So a
    checkpoint is the state between two updates, where a resumed run starts.

    Args:
        counter: where training stands.
        callbacks: the run's callbacks (periodic ones are scheduled here).
        dispatcher: calls the callbacks with the run's error policy.
        run_step: one micro-batch (see `TrainStep.run`).
        accumulation_steps: micro-batches per update.
        device: where callbacks' batches go.
        iterator_batch_size: the batch size of data-iterating callbacks without their own.
        log_writer: the metrics row of each update (None: no tracker).
        checkpoint_writer: the run's checkpoints (None: no run folder).
        save_checkpoint: writes a whole checkpoint under a tag (None: no run folder).
        nonfinite_guard: the stop_on_nan_loss check (None: off).
        skip_nonfinite: the skip_nan_loss counts, read when the guard would read (None: off).
        weights_check: before each checkpoint, the weights are finite (None: off).
        flush_tracker: puts the tracker's rows on disk before a checkpoint.
        logger: where signal stops are reported.
    """

    def __init__(
        self,
        *,
        counter: UpdateCounter,
        callbacks: Sequence[Any],
        dispatcher: CallbackDispatcher,
        run_step: RunStep,
        accumulation_steps: int,
        device: torch.device,
        iterator_batch_size: int,
        log_writer: LogWriter | None,
        checkpoint_writer: CheckpointWriter | None,
        save_checkpoint: SaveCheckpoint | None,
        nonfinite_guard: NonFiniteLossGuard | None,
        flush_tracker: Callable[[], None],
        skip_nonfinite: SkipNonFinite | None = None,
        weights_check: FiniteWeightsCheck | None = None,
        logger: logging.Logger,
    ) -> None:
        self.counter = counter
        self.periodic = [cb for cb in callbacks if isinstance(cb, PeriodicCallback)]
        self.dispatcher = dispatcher
        self.run_step = run_step
        self.accumulation_steps = accumulation_steps
        self.device = device
        self.iterator_batch_size = iterator_batch_size
        self.log_writer = log_writer
        self.checkpoint_writer = checkpoint_writer
        self.save_checkpoint = save_checkpoint
        self.nonfinite_guard = nonfinite_guard
        self.skip_nonfinite = skip_nonfinite
        self.weights_check = weights_check
        self.flush_tracker = flush_tracker
        self.logger = logger
        self.stopped_by_signal: str | None = None
        """SIGTERM / SIGINT when a signal stopped training (after writing its checkpoint)."""

    # ------------------------------------------------------------------ the loop
    def run(self, data_iter: Iterator[Batch], stop_request: StopRequest) -> None:
        """Trains until the end, an early stop, or a stop signal (all ranks agree on it).

        Metadata is dropped once, as batches leave the loader. On CUDA, batches are copied
        to the device one ahead on a side stream (see `CudaPrefetcher`); callbacks that read
        the stream get them already there."""
        data_iter = map(drop_metadata, data_iter)
        if self.device.type == "cuda":
            data_iter = CudaPrefetcher(data_iter, self.device)
        counter = self.counter
        step_hooked = [cb for cb in self.periodic if overrides(cb, STEP_HOOK)]
        update_hooked = [cb for cb in self.periodic if overrides(cb, UPDATE_HOOK)]
        schedule = DueSchedule(self.periodic, counter.update)
        for reader in (self.nonfinite_guard, self.skip_nonfinite, self.weights_check):
            if reader is not None:  # a resumed run's reads name its own updates
                reader.start(counter.update)
        agreement = StopAgreement(stop_request)
        while not counter.is_finished:
            stop = False
            data_wait = 0.0
            timings: dict[str, Stopwatch] = {}
            losses: dict[str, Tensor] = {}
            for index in range(self.accumulation_steps):
                start = perf_counter()
                batch = next(data_iter)
                data_wait += perf_counter() - start
                losses, outputs, step_timings = self.run_step(batch, index)
                _add_timings(timings, step_timings)
                if step_hooked:
                    args = (losses, outputs, index, self.accumulation_steps)
                    stop = self.dispatcher.call_hook(step_hooked, STEP_HOOK, *args) or stop
            timings["data_wait"] = Stopwatch(data_wait)
            skip = self.skip_nonfinite
            if skip is not None and skip.is_due_after_this_update(counter):
                skip.check(counter.update + 1)  # before it counts: as if raised inside it
            counter.add_update()
            end_of_epoch = counter.update % counter.updates_per_epoch == 0
            if end_of_epoch:  # first: whatever a callback saves is the position after it
                counter.add_epoch()
            stop = (
                self._after_update(
                    data_iter, schedule, update_hooked, losses, timings, end_of_epoch
                )
                or stop
            )
            signal_name = agreement.stop_signal()
            if signal_name is not None and counter.is_finished:
                # the run ends here anyway: it finishes (exit 0, its own checkpoints), and a
                # requeue script does not start it again for nothing
                self.logger.info("%s came with the last update: the run finishes", signal_name)
            elif signal_name is not None:
                self._stop_on_signal(signal_name)
                return
            if stop:
                agreement.close()
                self._check_skips(at_end=True)
                return
        agreement.close()
        self._check_skips(at_end=True)
        if self.nonfinite_guard is not None:
            self.nonfinite_guard.check(counter, self._logged_values)

    def _check_weights(self) -> None:
        """Before a checkpoint: its weights are finite (stop_on_nan_loss)."""
        if self.weights_check is not None:
            self.weights_check.check(self.counter.update)

    def _check_skips(self, at_end: bool = False) -> None:
        """Reads the skip_nan_loss counts (raises when too many were skipped in a row, or
        all of them when training ends)."""
        if self.skip_nonfinite is not None:
            self.skip_nonfinite.check(self.counter.update, at_end)

    def _after_update(
        self,
        data_iter: Iterator[Batch],
        schedule: DueSchedule,
        update_hooked: list[PeriodicCallback],
        losses: dict[str, Tensor],
        timings: dict[str, Stopwatch],
        end_of_epoch: bool,
    ) -> bool:
        """The callbacks of one update, its metrics row and its checkpoints; True to stop.

        Checkpoint writes asked for by callbacks are held until the row and the loss check
        are done, and dropped when a callback fails (the update was not completed)."""
        counter, writer, guard = self.counter, self.checkpoint_writer, self.nonfinite_guard
        stop = False
        if writer is not None:
            writer.hold()
        try:
            if update_hooked:
                stop = self.dispatcher.call_hook(update_hooked, UPDATE_HOOK, losses, timings)
            due = schedule.take_due(counter.update)
            if due:
                stop = self.run_periodic(due, data_iter, end_of_epoch=False) or stop
            if end_of_epoch:
                stop = self.run_periodic(self.periodic, data_iter, end_of_epoch=True) or stop
            if self.log_writer is not None:
                self.log_writer.flush(counter)
            if writer is not None and writer.has_held_writes:
                if guard is not None:  # no checkpoint of weights that a NaN went into
                    guard.check(counter, self._logged_values)
                self._check_skips()
                self._check_weights()
                self.flush_tracker()  # rows up to this update are on disk before it
                writer.release()
            elif guard is not None and guard.is_due(counter, end_of_epoch):
                guard.check(counter, self._logged_values)
        finally:
            if writer is not None:
                writer.discard()
        return stop

    # ------------------------------------------------------------------ periodic callbacks
    def run_periodic(
        self,
        callbacks: Sequence[PeriodicCallback],
        data_iter: Iterator[Batch],
        end_of_epoch: bool,
        force: bool = False,
    ) -> bool:
        """Every callback that is due (each once when forced) runs; True to stop."""

        def run_if_due(callback: PeriodicCallback) -> None:
            if force or callback.should_run(end_of_epoch):
                self._run_one(callback, data_iter)

        return self.dispatcher.dispatch(callbacks, run_if_due)

    def _run_one(self, callback: PeriodicCallback, data_iter: Iterator[Batch]) -> None:
        """The callback's periodic work; a data-iterating one gets its batches of the stream."""
        if not isinstance(callback, PeriodicDataIteratorCallback):
            callback.periodic_callback()
            return
        batch_size = callback.batch_size or self.iterator_batch_size
        count = per_rank_batches(callback.dataset_length, batch_size)
        batches = (self._to_device(b) for b in itertools.islice(data_iter, count))
        callback.set_batches(batches)
        try:
            callback.periodic_callback()
        finally:
            for _ in batches:  # keep the shared stream aligned whatever happened
                pass

    def _to_device(self, batch: Batch) -> Batch:
        if self.device.type == "cpu":
            return batch
        return to_device(batch, self.device)  # type: ignore[no-any-return]

    def evaluate_once(self, data_iter: Iterator[Batch]) -> None:
        """Evaluation only (no update left): every periodic callback runs once."""
        data_iter = map(drop_metadata, data_iter)
        self.run_periodic(self.periodic, data_iter, end_of_epoch=False, force=True)
        if self.log_writer is not None:
            self.log_writer.flush(self.counter)

    # ------------------------------------------------------------------ stops
    @property
    def _logged_values(self) -> Mapping[str, float]:
        return self.log_writer.last_values if self.log_writer is not None else {}

    def _stop_on_signal(self, signal_name: str) -> None:
        """Writes the checkpoint `<signal>_<position>` (also as `latest`) and notes the stop."""
        self.stopped_by_signal = signal_name
        tag = self.counter.tag
        if self.save_checkpoint is None or self.checkpoint_writer is None:
            self.logger.warning(
                "%s: stopping at %s (no run folder, no checkpoint)", signal_name, tag
            )
            return
        if self.nonfinite_guard is not None:
            self.nonfinite_guard.check(self.counter, self._logged_values)
        self._check_skips()
        self._check_weights()
        self.flush_tracker()
        folder = self.save_checkpoint(
            signal_tag(signal_name, tag), also_as={LATEST_TAG: UNIT_FILES}
        )
        older = self.checkpoint_writer.remove_older_signal_checkpoints(folder.name)
        replaced = f"; deleted the older {', '.join(older)}" if older else ""
        self.logger.warning(
            "%s: saved checkpoint %s (also as %s%s); stopping",
            signal_name,
            folder.name,
            LATEST_TAG,
            replaced,
        )
