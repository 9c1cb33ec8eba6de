"""One `train` or `eval` of a trainer on a model, from the prepared model to the flushed rows.

`BaseTrainer` is what a trainer is (its parts and the hooks subclasses override); a
`TrainerRun` is what one run does with them: wrap the model, build the run's loader and the
loop, run the callbacks' start and end hooks around the loop under the stop signals, and
let the data workers and DDP go when it ends. It uses the trainer's public surface only.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from noether.config.schemas.run_length import run_length_notes
from noether.core.callbacks.base import CallbackBase, PeriodicDataIteratorCallback
from noether.core.counters import Frequency
from noether.core.data.workers import stop_workers
from noether.core.distributed import get_rank, get_world_size
from noether.core.models.base import ModelBase
from noether.core.signals import catch_stop_signals
from noether.core.trainer.compiling import autocast_cache_key, update_start_marker
from noether.core.trainer.loop import TrainingLoop
from noether.core.trainer.nonfinite import FiniteWeightsCheck, NonFiniteLossGuard
from noether.core.trainer.step import StepResult

if TYPE_CHECKING:
    from noether.core.trainer.base import BaseTrainer


class TrainerRun:
    """Runs one model through a trainer (see the module).

    Args:
        trainer: the trainer whose parts and hooks the run uses.
        model: the model; the run moves it to the trainer's device, and `train` initialises
            it and applies the trainer's initializer (a resume) first.
    """

    def __init__(self, trainer: BaseTrainer, model: ModelBase) -> None:
        self.trainer = trainer
        self.model = model.to(trainer.device)  # the same module, moved in place

    def _prepare(self) -> None:
        """Optimizer and schedule built for the run's length, then the resume applied."""
        trainer, model = self.trainer, self.model
        if not model.is_initialized:
            model.initialize(trainer.update_counter.total_updates)
        self._note_what_the_data_tells()
        trainer.apply_resume_initializer(model)
        if trainer.update_counter.update > 0:
            model.set_update(trainer.update_counter.update)

    def _note_what_the_data_tells(self) -> None:
        """Notes what the run's length defeats (see `run_length_notes`) where only the data
        told that length; `validate` and the CLI noted the others."""
        config, model_config = self.trainer.config, self.model.model_config
        told = dict(run_length_notes(model_config, config))
        for key, message in run_length_notes(model_config, config, self.trainer.updates_per_epoch):
            if key not in told and get_rank() == 0:  # every rank would say it
                self.trainer.logger.warning("note: %s: %s", key, message)

    def train(self) -> str | None:
        """Trains until the stop criterion, a callback's early stop or a stop signal.

        Returns:
            The signal (SIGTERM / SIGINT) that stopped training after its checkpoint, if any.
        """
        self._prepare()
        trainer, model = self.trainer, self.model
        counter = trainer.update_counter
        dist_model = trainer.wrap_model(model)
        evaluation = counter.is_finished
        if evaluation and counter.update > 0:
            trainer.logger.warning(
                "nothing to train: the run starts at update %d, at or past its stop criterion "
                "(%d updates); its callbacks run once",
                counter.update,
                counter.total_updates,
            )
        loader = self._loader(evaluation)
        model.optimizer_zero_grad()
        loop = self.build_loop(dist_model)
        stopped_by = None
        try:
            with (
                catch_stop_signals(trainer.config.save_on_sigint) as stop_request,
                autocast_cache_key(trainer.config.use_torch_compile, trainer.step_runner.precision),
            ):
                data_iter = iter(loader)
                dist_model.eval()
                stop = trainer.dispatcher.call_hook(trainer.callbacks, "before_training")
                dist_model.train()
                if evaluation:
                    loop.evaluate_once(data_iter)
                elif not stop:
                    loop.run(data_iter, stop_request)
                    stopped_by = loop.stopped_by_signal
                    if stopped_by is None:
                        trainer.step_runner.check_trained(model)
                dist_model.eval()
                del data_iter
                if not stop_request.hurry:
                    trainer.dispatcher.call_hook(trainer.callbacks, "after_training")
        finally:
            stop_workers(loader)  # not after the batches they are loading (see there)
            # DDP's reducer holds the process group: let it go with the training, so that
            # `leave_process_group` destroys the group last (see there)
            trainer.step_runner.ddp_model = None
            if trainer.step_runner.skip_nonfinite is not None:
                trainer.step_runner.skip_nonfinite.detach()
        self._flush_rows()
        return stopped_by

    def evaluate(self) -> None:
        """Every callback once on the model as it is, with the initializer's weights (no
        update)."""
        trainer, model = self.trainer, self.model
        if trainer.initializer is not None:
            trainer.initializer.init_weights(model)
        loader = self._loader(evaluation=True)
        try:
            data_iter = iter(loader)
            model.eval()
            trainer.dispatcher.call_hook(trainer.callbacks, "before_training")
            self.build_loop(model).evaluate_once(data_iter)
            del data_iter
            trainer.dispatcher.call_hook(trainer.callbacks, "after_training")
        finally:
            stop_workers(loader)
        self._flush_rows()

    def build_loop(self, dist_model: torch.nn.Module) -> TrainingLoop:
        """The loop over updates, with the non-finite checks the config asks for."""
        trainer, model, config = self.trainer, self.model, self.trainer.config
        guard = None
        track = Frequency(**trainer.get_default_callback_intervals()["track"])
        if config.stop_on_nan_loss and not config.skip_nan_loss:
            guard = NonFiniteLossGuard(track, trainer.device, get_world_size())
        skip = trainer.step_runner.skip_nonfinite
        if skip is not None:
            skip.frequency = track
        trainer.step_runner.nonfinite_guard = guard
        writer = trainer.checkpoint_writer
        accumulation_steps = trainer.accumulation_steps
        mark_update_start = update_start_marker(config.use_torch_compile, trainer.device)

        def run_step(batch: dict[str, Tensor], index: int) -> StepResult:
            if index == 0 and mark_update_start is not None:
                mark_update_start()
            return trainer.update(batch, dist_model, model, accumulation_steps, index)

        return TrainingLoop(
            counter=trainer.update_counter,
            callbacks=trainer.callbacks,
            dispatcher=trainer.dispatcher,
            run_step=run_step,
            accumulation_steps=accumulation_steps,
            device=trainer.device,
            iterator_batch_size=trainer.micro_batch_plan.sizes[0],
            log_writer=trainer.log_writer,
            checkpoint_writer=writer,
            save_checkpoint=(
                functools.partial(writer.save, model, trainer) if writer is not None else None
            ),
            nonfinite_guard=guard,
            skip_nonfinite=skip,
            # with either policy: a finite loss can have a NaN gradient
            weights_check=(
                FiniteWeightsCheck(model, get_world_size())
                if config.stop_on_nan_loss and writer is not None
                else None
            ),
            # a tracker that does not derive from TrackerBase may have no flush
            flush_tracker=getattr(trainer.tracker, "flush", None) or _nothing,
            logger=trainer.logger,
        )

    def _loader(self, evaluation: bool) -> torch.utils.data.DataLoader[object]:
        trainer = self.trainer
        iterating = _iterating(trainer.callbacks)
        return trainer.get_data_loader(iterating, trainer.micro_batch_plan.sizes[0], evaluation)

    def _flush_rows(self) -> None:
        if self.trainer.log_writer is not None:
            self.trainer.log_writer.flush(self.trainer.update_counter)


def _iterating(callbacks: Sequence[CallbackBase]) -> list[PeriodicDataIteratorCallback]:
    return [cb for cb in callbacks if isinstance(cb, PeriodicDataIteratorCallback)]


def _nothing() -> None:
    """A tracker flush where there is no tracker."""


__all__ = ["TrainerRun"]
