"""The epoch/update loop and callback dispatch of BaseTrainer (kept apart from setup code)."""

from __future__ import annotations

import functools
import itertools
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import methodcaller
from time import perf_counter
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from noether.core.callbacks.base import (
    CallbackBase,
    PeriodicCallback,
    PeriodicDataIteratorCallback,
)
from noether.core.checkpoint.writer import LATEST_TAG
from noether.core.data.container import per_rank_batches
from noether.core.signals import StopAgreement
from noether.core.stopwatch import Stopwatch
from noether.core.trainer.types import EarlyStopIteration

if TYPE_CHECKING:
    from noether.core.counters import UpdateCounter
    from noether.core.signals import StopRequest
    from noether.core.trainer.nonfinite import NonFiniteLossGuard
    from noether.core.trainer.update import UpdateResult


NEVER = sys.maxsize
"""Next due update of a callback that only runs at epoch ends."""

_is_meta = methodcaller("startswith", "__meta")

STEP_HOOK = "track_after_accumulation_step"
UPDATE_HOOK = "track_after_update_step"


def _overrides(callback: CallbackBase, name: str) -> bool:
    return getattr(type(callback), name) is not getattr(PeriodicCallback, name)


class LoopMixin:
    """Runs updates, feeds callbacks, and handles callback errors and early stops."""

    logger: logging.Logger
    update_counter: UpdateCounter
    checkpoint_writer: Any
    log_writer: Any
    callbacks: list[CallbackBase]
    accumulation_steps: int
    _batch_size: int
    _move_to_device: bool
    device: torch.device
    stopped_by_signal: str | None
    tracker: Any
    _nonfinite_guard: NonFiniteLossGuard | None

    update: Callable[..., UpdateResult]

    @staticmethod
    def drop_metadata(data: dict[str, Any]) -> dict[str, Any]:
        """The batch without `__meta*` keys (bookkeeping that the model must not see); the
        batch itself when it has none (no copy on the hot path)."""
        if any(map(_is_meta, data)):  # the scan in C: this runs every micro-batch
            return {k: v for k, v in data.items() if not k.startswith("__meta")}
        return data

    # ------------------------------------------------------------------ callback dispatch
    def _dispatch(
        self,
        callbacks: Sequence[CallbackBase],
        call: Callable[[CallbackBase], None],
        model: Any,
        first_error: BaseException | None = None,
    ) -> bool:
        """Calls every callback; returns True when one asked to stop.

        A callback that raises does not keep the others from running; afterwards an error
        checkpoint is written and the first error (possibly one raised before, passed in) is
        re-raised.
        """
        stop = False
        for callback in callbacks:
            try:
                call(callback)
            except EarlyStopIteration:
                self.logger.info("%s stopped training early", callback)
                stop = True
            except Exception as error:
                self.logger.exception("error in callback %s; running the others first", callback)
                if first_error is None:
                    first_error = error
        if first_error is not None:
            self._write_error_checkpoint(model)
            raise first_error
        return stop

    def _track_failed(
        self,
        callbacks: Sequence[CallbackBase],
        name: str,
        args: tuple[Any, ...],
        done: int,
        error: Exception,
    ) -> bool:
        """After the tracking hook of `callbacks[done]` raised `error`: an early stop is
        noted, any other error is logged; the remaining callbacks still run (`_dispatch`).
        True when one asked to stop."""
        first_error: BaseException | None = None
        if isinstance(error, EarlyStopIteration):
            self.logger.info("%s stopped training early", callbacks[done])
            stop = True
        else:
            self.logger.error(
                "error in callback %s; running the others first",
                callbacks[done],
                exc_info=error,
            )
            first_error, stop = error, False
        rest = callbacks[done + 1 :]
        return (
            self._dispatch(
                rest, lambda cb: getattr(cb, name)(*args), self._current_model(), first_error
            )
            or stop
        )

    def _write_error_checkpoint(self, model: Any) -> None:
        writer = self.checkpoint_writer
        if writer is None:
            return
        writer.discard()  # the update's own writes: the state between updates was not reached
        tag = f"error_{self.update_counter.tag}"
        try:
            writer.save(model, self, tag=tag)
        except Exception:
            self.logger.exception("could not write the error checkpoint %s", tag)

    def call_before_training(self, callbacks: Sequence[CallbackBase]) -> bool:
        """`before_training` of every callback; True when one asked to stop."""
        return self._dispatch(callbacks, lambda cb: cb.before_training(), self._current_model())

    def call_after_training(self, callbacks: Sequence[CallbackBase]) -> None:
        """`after_training` of every callback (an early stop request is ignored here)."""
        self._dispatch(callbacks, lambda cb: cb.after_training(), self._current_model())

    def _current_model(self) -> Any:
        return getattr(self, "_model", None)

    def _callback_batches(
        self, callback: PeriodicDataIteratorCallback, data_iter: Iterator[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        count = per_rank_batches(callback.dataset_length, self._iterator_batch_size(callback))
        for batch in itertools.islice(data_iter, count):
            batch = self.drop_metadata(batch)
            if self._move_to_device:
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            yield batch

    def _iterator_batch_size(self, callback: PeriodicDataIteratorCallback) -> int:
        return callback.batch_size or self._batch_size

    def _periodic_call(
        self,
        callback: CallbackBase,
        data_iter: Iterator[dict[str, Any]],
        end_of_epoch: bool,
        force: bool = False,
    ) -> None:
        """after_update / after_epoch of one periodic callback (its work alone when forced)."""
        assert isinstance(callback, PeriodicCallback)
        if not (force or callback.should_run(end_of_epoch)):
            return
        if isinstance(callback, PeriodicDataIteratorCallback):
            batches = self._callback_batches(callback, data_iter)
            callback.set_batches(batches)
            try:
                callback.periodic_callback()
            finally:
                for _ in batches:  # keep the shared stream aligned whatever happened
                    pass
        else:
            callback.periodic_callback()

    def _run_periodic(
        self,
        callbacks: Sequence[PeriodicCallback],
        data_iter: Iterator[dict[str, Any]],
        model: Any,
        end_of_epoch: bool,
        force: bool = False,
    ) -> bool:
        """Every periodic callback that is due (each once when forced); True to stop."""
        if not callbacks:
            return False
        return self._dispatch(
            callbacks,
            functools.partial(
                self._periodic_call, data_iter=data_iter, end_of_epoch=end_of_epoch, force=force
            ),
            model,
        )

    def _next_due(self, callback: PeriodicCallback) -> int:
        """The update from which the loop asks `callback.should_run` again (NEVER: epochs only)."""
        due = callback.next_update_due()
        if due is None:
            return NEVER
        return max(due, self.update_counter.update + 1)

    def _run_due(
        self,
        periodic: Sequence[PeriodicCallback],
        next_due: list[int],
        data_iter: Iterator[dict[str, Any]],
        model: Any,
    ) -> bool:
        """After an update: the callbacks whose next due update has come are asked
        `should_run` (in list order) and run when due; their next due update is then
        recomputed. A callback that raises or stops gets the same treatment as in
        `_dispatch`. True when one asked to stop."""
        update = self.update_counter.update
        due = [i for i, at in enumerate(next_due) if at <= update]
        done = 0
        try:
            for i in due:
                callback = periodic[i]
                if callback.should_run(False):
                    if isinstance(callback, PeriodicDataIteratorCallback):
                        self._periodic_call(callback, data_iter, end_of_epoch=False, force=True)
                    else:
                        callback.periodic_callback()
                done += 1
            return False
        except EarlyStopIteration:
            self.logger.info("%s stopped training early", periodic[due[done]])
            stop, first_error = True, None
        except Exception as error:
            self.logger.exception(
                "error in callback %s; running the others first", periodic[due[done]]
            )
            stop, first_error = False, error
        finally:
            for i in due:
                next_due[i] = self._next_due(periodic[i])
        rest = [periodic[i] for i in due[done + 1 :]]
        call = functools.partial(self._periodic_call, data_iter=data_iter, end_of_epoch=False)
        return self._dispatch(rest, call, model, first_error) or stop

    # ------------------------------------------------------------------ the loop
    def _train_loop(
        self,
        model: Any,
        dist_model: torch.nn.Module,
        data_iter: Iterator[dict[str, Any]],
        stop_request: StopRequest,
    ) -> None:
        """Updates until the counter is finished, a callback stops, or a signal arrives.

        After each update, in this order: the epoch advances (if it ended), the callbacks run
        (update hooks, due callbacks, epoch callbacks), the metrics row is written, the loss
        is checked when due, and the checkpoints that callbacks asked for are written. So a
        checkpoint is the state between two updates, where a resumed run starts.
        """
        counter = self.update_counter
        periodic = [cb for cb in self.callbacks if isinstance(cb, PeriodicCallback)]
        track_step = [cb for cb in periodic if _overrides(cb, STEP_HOOK)]
        track_update = [cb for cb in periodic if _overrides(cb, UPDATE_HOOK)]
        step_hooks = [cb.track_after_accumulation_step for cb in track_step]
        update_hooks = [cb.track_after_update_step for cb in track_update]
        track_failed = self._track_failed
        accumulation_steps = self.accumulation_steps
        updates_per_epoch = counter.updates_per_epoch
        log_writer = self.log_writer
        writer = self.checkpoint_writer
        guard = self._nonfinite_guard
        drop_metadata = self.drop_metadata
        update = self.update
        agreement = StopAgreement(stop_request)
        # a callback that is not due costs nothing: only callbacks whose next due update has
        # come are asked (one integer compare per update when none is)
        next_due = [self._next_due(cb) for cb in periodic]
        next_any = min(next_due, default=NEVER)
        while not counter.is_finished:
            stop = False
            data_wait = 0.0
            timings: dict[str, Stopwatch] = {}
            losses: dict[str, Tensor] = {}
            for step in range(accumulation_steps):
                start = perf_counter()
                batch = drop_metadata(next(data_iter))
                data_wait += perf_counter() - start
                losses, outputs, step_timings = update(
                    batch, dist_model, model, accumulation_steps, step
                )
                if accumulation_steps == 1:
                    timings = step_timings
                else:  # one Stopwatch per phase, summed over the micro-batches
                    for key, watch in step_timings.items():
                        total = timings.get(key)
                        if total is None:
                            timings[key] = watch
                        else:
                            total.elapsed_seconds += watch.elapsed_seconds
                if step_hooks:  # one call per callback on the hot path; failures: _track_failed
                    done = 0
                    try:
                        for hook in step_hooks:
                            hook(losses, outputs, step, accumulation_steps)
                            done += 1
                    except Exception as error:
                        args = (losses, outputs, step, accumulation_steps)
                        stop = track_failed(track_step, STEP_HOOK, args, done, error) or stop
            counter.add_update()
            end_of_epoch = counter.update % updates_per_epoch == 0
            if end_of_epoch:  # first: whatever a callback saves is the position after it
                counter.add_epoch()
            if writer is not None:
                writer.hold()
            try:
                if update_hooks:
                    timings["data_wait"] = Stopwatch(data_wait)
                    done = 0
                    try:
                        for update_hook in update_hooks:
                            update_hook(losses, timings)
                            done += 1
                    except Exception as error:
                        update_args = (losses, timings)
                        stop = (
                            track_failed(track_update, UPDATE_HOOK, update_args, done, error)
                            or stop
                        )
                if counter.update >= next_any:
                    stop = self._run_due(periodic, next_due, data_iter, model) or stop
                    next_any = min(next_due)
                if end_of_epoch:
                    stop = self._run_periodic(periodic, data_iter, model, end_of_epoch=True) or stop
                if log_writer is not None:
                    log_writer.flush(counter)
                if writer is not None and writer.has_held_writes:
                    if guard is not None:  # no checkpoint of weights that a NaN went into
                        guard.check(counter, self._logged_values)
                    self._flush_tracker()  # rows up to this update are on disk before it
                    writer.release()
                elif guard is not None and guard.is_due(counter, end_of_epoch):
                    guard.check(counter, self._logged_values)
            finally:
                if writer is not None:
                    writer.discard()
            signal_name = agreement.stop_signal()
            if signal_name is not None:
                self._stop_on_signal(model, signal_name)
                return
            if stop:
                agreement.close()
                return
        agreement.close()
        if guard is not None:
            guard.check(counter, self._logged_values)

    def _flush_tracker(self) -> None:
        flush = getattr(self.tracker, "flush", None)
        if flush is not None:
            flush()

    @property
    def _logged_values(self) -> Mapping[str, float]:
        return self.log_writer.last_values if self.log_writer is not None else {}

    def _stop_on_signal(self, model: Any, signal_name: str) -> None:
        """Writes the checkpoint `<signal>_<position>` (also as `latest`) and notes the stop."""
        self.stopped_by_signal = signal_name
        writer = self.checkpoint_writer
        if writer is None:
            self.logger.warning(
                "%s: stopping at %s (no run folder, no checkpoint)",
                signal_name,
                self.update_counter.tag,
            )
            return
        if self._nonfinite_guard is not None:
            self._nonfinite_guard.check(self.update_counter, self._logged_values)
        self._flush_tracker()
        folder = writer.save(model, self, tag=f"{signal_name.lower()}_{self.update_counter.tag}")
        writer.alias(folder, LATEST_TAG)
        self.logger.warning(
            "%s: saved checkpoint %s (also as %s); stopping", signal_name, folder.name, LATEST_TAG
        )

    def _evaluate_once(self, model: Any, data_iter: Iterator[dict[str, Any]]) -> None:
        """Evaluation only (no update left): every periodic callback runs once."""
        periodic = [cb for cb in self.callbacks if isinstance(cb, PeriodicCallback)]
        self._run_periodic(periodic, data_iter, model, end_of_epoch=False, force=True)
        if self.log_writer is not None:
            self.log_writer.flush(self.update_counter)
