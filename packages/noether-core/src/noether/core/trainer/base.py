"""BaseTrainer: the training loop that every noether trainer inherits."""

from __future__ import annotations

import abc
import logging
from collections import Counter
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from noether.core.callbacks.base import (
    CallbackBase,
    CallbackContext,
    PeriodicDataIteratorCallback,
)
from noether.core.counters import Frequency, UpdateCounter
from noether.core.data.container import DataContainer
from noether.core.distributed import all_gather_object, get_rank, get_world_size
from noether.core.precision import autocast_factory, create_grad_scaler, resolve_precision
from noether.core.rng import derive_seed, get_rng_states, seed_all, set_rng_states
from noether.core.signals import catch_stop_signals
from noether.core.trainer import setup
from noether.core.trainer.batching import BatchSplitter, micro_batch_plan
from noether.core.trainer.loop import LoopMixin
from noether.core.trainer.nonfinite import NonFiniteLossGuard
from noether.core.trainer.types import LossResult, TrainerResult
from noether.core.trainer.update import UpdateStepMixin


class BaseTrainer(LoopMixin, UpdateStepMixin, abc.ABC):
    """Base class of trainers: subclasses say how to compute the loss, the loop does the rest.

    Implement `loss_compute`; override `train_step` for custom forward logic. `train` and
    `wrap_model` may not be overridden. For example, with `model` a `ModelBase` whose forward
    takes `x`, and a dataset whose items hold `x` and `y`:

    .. code-block:: python

        import torch

        from noether.config import BaseTrainerConfig
        from noether.core import BaseTrainer, DataContainer

        class MyTrainer(BaseTrainer):
            def loss_compute(self, forward_output, targets):
                return torch.nn.functional.mse_loss(forward_output, targets["y"])

        config = BaseTrainerConfig(
            kind="my_trainer", max_epochs=10, effective_batch_size=16,
            forward_properties=["x"], target_properties=["y"],
        )
        trainer = MyTrainer(config, DataContainer({"train": dataset}), "cpu", tracker,
                            path_provider)
        trainer.train(model)

    Args:
        config: the trainer's schema (stop criterion, batch sizes, precision, callbacks, ...).
        data_container: the run's datasets; `train` is required unless nothing is trained.
        device: device to train on ("cpu", "cuda", "cuda:1", ...); one device per process.
        tracker: where metrics go (`TrackerBase`).
        path_provider: the run folder (`PathProvider`); None writes no checkpoints.
        main_sampler_kwargs: keyword arguments of `DataContainer.get_main_sampler`.
        metric_property_provider: optional lookup of metric properties for callbacks.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("train", "wrap_model"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__qualname__} overrides BaseTrainer.{name}, which is fixed; override "
                    "loss_compute or train_step instead"
                )

    def __init__(
        self,
        config: Any,
        data_container: DataContainer,
        device: str | torch.device,
        tracker: Any,
        path_provider: Any,
        main_sampler_kwargs: dict[str, Any] | None = None,
        metric_property_provider: Any = None,
    ) -> None:
        self.logger = logging.getLogger(type(self).__name__)
        self.config = config
        self.data_container = data_container
        self.path_provider = path_provider
        self.main_sampler_kwargs = main_sampler_kwargs or {}
        self.device = torch.device(device)
        self.end_checkpoint = setup.TrainingEnd(
            config.max_epochs, config.max_updates, config.max_samples
        )
        self.precision = resolve_precision(config.precision, self.device)
        self.grad_scaler = create_grad_scaler(self.precision, self.device)
        self.autocast = autocast_factory(self.precision, self.device)
        self._autocast_enabled = self.precision != torch.float32
        self.updates_per_epoch = setup.updates_per_epoch(config, data_container)
        self.skip_nan_loss_counter = 0
        self.initializer = setup.build_initializer(config.initializer, path_provider)
        if self.initializer is not None and config.start_at_epoch is not None:
            raise ValueError("start_at_epoch cannot be combined with an initializer")
        self.tracker = tracker
        self.metric_property_provider = metric_property_provider
        self.update_counter = UpdateCounter(
            updates_per_epoch=self.updates_per_epoch,
            effective_batch_size=config.effective_batch_size,
            max_epochs=config.max_epochs,
            max_updates=config.max_updates,
            max_samples=config.max_samples,
            start_epoch=config.start_at_epoch or 0,
        )
        self.log_writer = setup.build_log_writer(tracker)
        self.checkpoint_writer = setup.build_checkpoint_writer(path_provider, self.update_counter)
        self.callbacks: list[CallbackBase] = []
        self.forward_properties: list[str] = list(config.forward_properties)
        self.target_properties: list[str] = list(config.target_properties)
        self.batch_keys = set(self.forward_properties) | set(self.target_properties)
        self._splitter = BatchSplitter(self.forward_properties, self.target_properties)
        self._move_to_device = self.device.type != "cpu"
        self._ddp_model: torch.nn.parallel.DistributedDataParallel | None = None
        self._backward_steps = 0
        self.micro_batch_plan = micro_batch_plan(
            config.effective_batch_size,
            config.max_batch_size,
            get_world_size(),
            config.disable_gradient_accumulation,
        )
        self._batch_size = self.micro_batch_plan.sizes[0]
        self.accumulation_steps = self.micro_batch_plan.accumulation_steps
        self._micro_batch_weights = self.micro_batch_plan.weights
        self._model: Any = None
        self._nonfinite_guard: NonFiniteLossGuard | None = None
        self.stopped_by_signal: str | None = None
        """SIGTERM / SIGINT when a signal stopped training (after writing its checkpoint)."""
        self.logger.info("precision %s (asked for %s)", self.precision, config.precision)

    # ------------------------------------------------------------------ callbacks
    def _callback_context(self, model: Any) -> CallbackContext:
        return CallbackContext(
            trainer=self,
            model=model,
            data_container=self.data_container,
            log_writer=self.log_writer,
            tracker=self.tracker,
            path_provider=self.path_provider,
            update_counter=self.update_counter,
            checkpoint_writer=self.checkpoint_writer,
            device=self.device,
            logger=self.logger,
        )

    def _callback_default_args(self, model: Any) -> dict[str, Any]:
        """`CallbackCls(**args)` builds a config-less callback: callback_config and context."""
        return {"callback_config": None, "context": self._callback_context(model)}

    def get_user_callbacks(self, model: Any, evaluation: bool = False) -> list[CallbackBase]:
        """The callbacks of `config.callbacks`, built from their kinds' targets as
        `Callback(callback_config, context=context)`."""
        from noether.core.build import build_component

        del evaluation  # every user callback also runs in evaluation-only runs
        context = self._callback_context(model)
        return [build_component(cfg, context=context) for cfg in self.config.callbacks]

    def get_trainer_callbacks(self, callback_default_args: dict[str, Any]) -> list[CallbackBase]:
        """Callbacks a trainer class contributes (none here); `callback_default_args` holds
        `callback_config=None` and `context`, so `MyCallback(**callback_default_args,
        every_n_updates=10)` builds one."""
        del callback_default_args
        return []

    def get_default_callback_intervals(self) -> dict[str, dict[str, int | None]]:
        """Intervals of the default callbacks: `{"log": {...}, "track": {...}}`.

        Each holds every_n_epochs / every_n_updates / every_n_samples. Unset in the config,
        logging runs every 1/100 and tracking every 1/500 of the total updates (at least 1).
        """
        return setup.default_intervals(self.config, self.update_counter.total_updates)

    def get_default_callbacks(self, default_kwargs: dict[str, Any]) -> list[CallbackBase]:
        """The default logging callbacks (from `noether.core.callbacks.default`)."""
        return setup.build_default_callbacks(
            self.config, default_kwargs["context"], self.get_default_callback_intervals()
        )

    def get_all_callbacks(self, model: Any) -> list[CallbackBase]:
        """User, default and trainer callbacks, each with a unique `state_key`."""
        default_args = self._callback_default_args(model)
        callbacks = self.get_user_callbacks(model)
        if self.config.add_default_callbacks:
            callbacks += self.get_default_callbacks(default_args)
        if self.config.add_trainer_callbacks:
            callbacks += self.get_trainer_callbacks(default_args)
        seen: Counter[str] = Counter()
        for callback in callbacks:
            key = callback.state_key
            if seen[key]:
                callback.state_key = f"{key}_{seen[key]}"
            seen[key] += 1
        return callbacks

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Counters, gradient scaler, callbacks (by state_key), every rank's RNG states, and
        the data layout the position refers to. Every rank must call it (RNG gather)."""
        state: dict[str, Any] = {
            "update_counter": self.update_counter.state_dict(),
            "callbacks": {cb.state_key: cb.state_dict() for cb in self.callbacks},
            "skip_nan_loss_counter": self.skip_nan_loss_counter,
            "rng": all_gather_object(get_rng_states()),
            "data": self.data_layout(),
        }
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def data_layout(self) -> dict[str, int]:
        """What a stored position means: train set size, updates per epoch, ranks."""
        train = self.data_container.datasets.get("train")
        return {
            "train_length": len(train) if train is not None else 0,  # type: ignore[arg-type]
            "updates_per_epoch": self.updates_per_epoch,
            "effective_batch_size": self.config.effective_batch_size,
            "world_size": get_world_size(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores what `state_dict` returned (callbacks matched by state_key; this rank's
        RNG states, or fresh ones derived from the position when the world size changed)."""
        self.update_counter.load_state_dict(state_dict["update_counter"])
        self.skip_nan_loss_counter = int(state_dict.get("skip_nan_loss_counter", 0))
        states = dict(state_dict.get("callbacks", {}))
        for callback in self.callbacks:
            if callback.state_key in states:
                callback.load_state_dict(states.pop(callback.state_key))
            else:
                self.logger.warning("no state for callback %s in the checkpoint", callback)
        if states:
            self.logger.warning("checkpoint holds state of unknown callbacks: %s", sorted(states))
        scaler_state = state_dict.get("grad_scaler")
        if self.grad_scaler is not None and scaler_state is not None:
            self.grad_scaler.load_state_dict(scaler_state)
        rng = state_dict.get("rng") or []
        if len(rng) == get_world_size():
            set_rng_states(rng[get_rank()])
        else:
            seed = derive_seed(self.data_container.seed, get_rank(), self.update_counter.update)
            self.logger.warning(
                "the checkpoint holds the RNG states of %d rank(s), this run has %d: random "
                "numbers are drawn afresh from the position, so the run is not the one it "
                "would have been uninterrupted",
                len(rng),
                get_world_size(),
            )
            seed_all(seed)

    def apply_resume_initializer(self, model: Any) -> None:
        """Restores weights, optimizer and trainer state from the initializer, if any."""
        if self.initializer is not None:
            self.initializer.apply(model, self)

    # ------------------------------------------------------------------ data
    def get_data_loader(
        self,
        iterator_callbacks: list[PeriodicDataIteratorCallback],
        batch_size: int,
        evaluation: bool = False,
    ) -> DataLoader[Any]:
        """One DataLoader for the whole run: training batches interleaved with the batches
        of due data-iterating callbacks (workers start once)."""
        return setup.build_data_loader(self, iterator_callbacks, batch_size, evaluation)

    # ------------------------------------------------------------------ steps
    @abc.abstractmethod
    def loss_compute(self, forward_output: Any, targets: dict[str, Tensor]) -> LossResult:
        """The loss of one batch: a tensor, a dict of named losses, a list of losses, or
        `(losses, additional_outputs)`; the losses are summed for the backward pass."""

    def train_step(self, batch: dict[str, Tensor], model: torch.nn.Module) -> TrainerResult:
        """`model(**forward inputs)`, then `loss_compute(output, targets)` -> TrainerResult."""
        forward, targets = self._splitter.split(batch)
        return setup.to_trainer_result(self.loss_compute(model(**forward), targets))

    # ------------------------------------------------------------------ wrapping
    def wrap_model(self, model: Any) -> torch.nn.Module:
        """DDP first, then torch.compile."""
        if not getattr(model, "is_initialized", True):
            raise ValueError("the model must be initialized before wrapping")
        return self.wrap_compile(self.wrap_ddp(model))

    def wrap_ddp(self, model: Any) -> torch.nn.Module:
        """DistributedDataParallel (with SyncBatchNorm) when there is more than one process."""
        ddp = setup.wrap_ddp(self, model)
        self._ddp_model = (
            ddp if isinstance(ddp, torch.nn.parallel.DistributedDataParallel) else None
        )
        return ddp

    def wrap_compile(self, ddp_model: torch.nn.Module) -> torch.nn.Module:
        """torch.compile when use_torch_compile (applied to the DDP-wrapped model)."""
        if not self.config.use_torch_compile:
            return ddp_model
        self.logger.info("compiling the model with torch.compile")
        return torch.compile(ddp_model)  # type: ignore[return-value]

    # ------------------------------------------------------------------ training
    @property
    def total_training_updates(self) -> int:
        """Updates of the whole run (from the stop criterion)."""
        return self.update_counter.total_updates

    def _prepare_model(self, model: Any) -> Any:
        model = model.to(self.device)
        if not model.is_initialized:
            model.initialize(self.update_counter.total_updates)
        self._model = model
        self.apply_resume_initializer(model)
        if self.update_counter.update > 0:
            model.set_update(self.update_counter.update)
        return model

    def train(self, model: Any) -> None:
        """Trains `model` until the stop criterion (or a callback's early stop)."""
        self._model = model
        self.callbacks = self.get_all_callbacks(model)
        model = self._prepare_model(model)
        dist_model = self.wrap_model(model)
        iterator_callbacks = [
            cb for cb in self.callbacks if isinstance(cb, PeriodicDataIteratorCallback)
        ]
        evaluation = self.update_counter.is_finished
        loader = self.get_data_loader(iterator_callbacks, self._batch_size, evaluation)
        model.optimizer_zero_grad()
        if self.config.stop_on_nan_loss and not self.config.skip_nan_loss:
            track = self.get_default_callback_intervals()["track"]
            self._nonfinite_guard = NonFiniteLossGuard(Frequency(**track), self.device)
        try:
            with catch_stop_signals(self.config.save_on_sigint) as stop_request:
                data_iter = iter(loader)
                dist_model.eval()
                stop = self.call_before_training(self.callbacks)
                dist_model.train()
                if evaluation:
                    self._evaluate_once(model, data_iter)
                elif not stop:
                    self._train_loop(model, dist_model, data_iter, stop_request)
                dist_model.eval()
                del data_iter
                if not stop_request.hurry:
                    self.call_after_training(self.callbacks)
        finally:
            # DDP's reducer holds the process group: let it go with the training, so that
            # `leave_process_group` destroys the group last (see there)
            self._ddp_model = None
        if self.log_writer is not None:
            self.log_writer.flush(self.update_counter)

    def eval(self, model: Any) -> None:
        """Evaluation only: every callback runs once on the model as it is (no update)."""
        self._model = model
        self.callbacks = self.get_all_callbacks(model)
        model = model.to(self.device)
        self._model = model
        if self.initializer is not None:
            self.initializer.init_weights(model)
        iterator_callbacks = [
            cb for cb in self.callbacks if isinstance(cb, PeriodicDataIteratorCallback)
        ]
        loader = self.get_data_loader(iterator_callbacks, self._batch_size, evaluation=True)
        data_iter = iter(loader)
        model.eval()
        self.call_before_training(self.callbacks)
        self._evaluate_once(model, data_iter)
        del data_iter
        self.call_after_training(self.callbacks)
        if self.log_writer is not None:
            self.log_writer.flush(self.update_counter)


__all__ = ["BaseTrainer"]
