"""BaseTrainer: what every noether trainer inherits (its parts, hooks and state); one run of
it is a `TrainerRun` (`noether.core.trainer.run`)."""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from noether.core.build import build_component
from noether.core.callbacks.base import CallbackBase, PeriodicDataIteratorCallback
from noether.core.callbacks.context import CallbackContext
from noether.core.callbacks.default import build_default_callbacks, default_intervals
from noether.core.callbacks.dispatch import CallbackDispatcher
from noether.core.checkpoint.initializers import build_initializer
from noether.core.checkpoint.writer import CheckpointWriter
from noether.core.counters import TrainingEnd, UpdateCounter
from noether.core.data.container import DataContainer
from noether.core.data.loader import build_run_loader
from noether.core.distributed import get_world_size, wrap_ddp
from noether.core.models.base import ModelBase
from noether.core.precision import autocast_factory
from noether.core.trackers.log_writer import LogWriter
from noether.core.trainer.batching import BatchSplitter, epoch_updates, micro_batch_plan
from noether.core.trainer.compiling import compile_model, compiles_inside_ddp
from noether.core.trainer.loop import drop_metadata
from noether.core.trainer.run import TrainerRun
from noether.core.trainer.state import (
    describe_data_layout,
    make_state_keys_unique,
    restore_trainer_state,
    trainer_state,
)
from noether.core.trainer.step import StepResult, TrainStep
from noether.core.trainer.types import LossResult, TrainerResult, to_trainer_result

if TYPE_CHECKING:
    from noether.config import BaseTrainerConfig
    from noether.core.runs import PathProvider
    from noether.core.trackers.base import TrackerBase


def says_what_train_step_passes(trainer_class: type) -> bool:
    """Whether the class's `forward_keys` is defined where its `train_step` is, or in a
    subclass of that class (one that overrides `train_step` alone says nothing of it)."""
    mro = trainer_class.__mro__

    def owner(name: str) -> int:
        return next(index for index, klass in enumerate(mro) if name in vars(klass))

    return owner("forward_keys") <= owner("train_step")


class BaseTrainer(abc.ABC):
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

    abstract_advice: ClassVar[dict[str, str]] = {
        "loss_compute": "implement loss_compute(forward_output, targets) to compute the loss "
        "from the model's output, or override train_step(batch, model) to run the model and "
        "compute it itself"
    }
    """What a subclass lacking an abstract method can do, for `build_component`'s message
    about a trainer kind (Python's own error names loss_compute alone, where train_step is the
    other way). Not raised from a `__new__`: that would hide the constructor's signature
    from `inspect.signature`, which the preflight binds."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("train", "wrap_model"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__qualname__} overrides BaseTrainer.{name}, which is fixed; override "
                    "loss_compute or train_step instead"
                )
        # a trainer with its own train_step needs no loss_compute (it is abstract otherwise)
        if cls.train_step is not BaseTrainer.train_step and getattr(
            cls.loss_compute, "__isabstractmethod__", False
        ):
            cls.loss_compute = _no_loss_compute  # type: ignore[method-assign]

    def __init__(
        self,
        config: BaseTrainerConfig[Any],
        data_container: DataContainer,
        device: str | torch.device,
        tracker: TrackerBase | None,
        path_provider: PathProvider | None,
        main_sampler_kwargs: dict[str, Any] | None = None,
        metric_property_provider: object = None,
    ) -> None:
        self.logger = logging.getLogger(type(self).__name__)
        self.config = config
        self.data_container = data_container
        self.path_provider = path_provider
        self.main_sampler_kwargs = main_sampler_kwargs or {}
        self.device = torch.device(device)
        self.tracker = tracker
        self.metric_property_provider = metric_property_provider
        self.end_checkpoint = TrainingEnd(config.max_epochs, config.max_updates, config.max_samples)
        self.updates_per_epoch = epoch_updates(config, data_container)
        self.initializer = build_initializer(config.initializer, path_provider)
        if self.initializer is not None and config.start_at_epoch is not None:
            raise ValueError("start_at_epoch cannot be combined with an initializer")
        self.update_counter = UpdateCounter(
            updates_per_epoch=self.updates_per_epoch,
            effective_batch_size=config.effective_batch_size,
            max_epochs=config.max_epochs,
            max_updates=config.max_updates,
            max_samples=config.max_samples,
            start_epoch=config.start_at_epoch or 0,
        )
        self.log_writer = LogWriter(tracker) if tracker is not None else None
        self.checkpoint_writer = (
            CheckpointWriter(path_provider, self.update_counter)
            if path_provider is not None
            else None
        )
        self.callbacks: list[CallbackBase] = []
        self.forward_properties: list[str] = list(config.forward_properties)
        self.target_properties: list[str] = list(config.target_properties)
        self.batch_keys = set(self.forward_properties) | set(self.target_properties)
        self.batch_splitter = BatchSplitter(self.forward_properties, self.target_properties)
        """Splits a batch into the model's inputs and the loss's targets (`train_step`)."""
        self.micro_batch_plan = micro_batch_plan(
            config.effective_batch_size,
            config.max_batch_size,
            get_world_size(),
            config.disable_gradient_accumulation,
        )
        self.accumulation_steps = self.micro_batch_plan.accumulation_steps
        self.step_runner = TrainStep.for_config(
            config, self.device, self.micro_batch_plan.weights, self.logger, type(self).__name__
        )
        """Runs one micro-batch and the optimizer step (`update`)."""
        self.precision = self.step_runner.precision
        self.grad_scaler = self.step_runner.grad_scaler
        self.autocast = autocast_factory(self.precision, self.device)
        self.grad_norm = self.step_runner.grad_norm
        """Hands the gradient norm of wanted updates from the step to callbacks."""
        self.dispatcher = CallbackDispatcher(self.logger, self._write_error_checkpoint)
        """Calls the callbacks with one error policy."""
        self._offered_models: dict[str, Callable[[], torch.nn.Module]] = {}
        self._model: ModelBase | None = None
        self.stopped_by_signal: str | None = None
        """SIGTERM / SIGINT when a signal stopped training (after writing its checkpoint)."""
        self.logger.info("precision %s (asked for %s)", self.precision, config.precision)

    # ------------------------------------------------------------------ accessors
    @property
    def model(self) -> ModelBase | None:
        """The model being trained or evaluated (None before `train` / `eval`)."""
        return self._model

    @property
    def ddp_model(self) -> torch.nn.parallel.DistributedDataParallel | None:
        """The DDP wrapper of the model while it trains on several ranks, else None."""
        return self.step_runner.ddp_model

    @property
    def skip_nan_loss_counter(self) -> int:
        """Non-finite losses skipped in a row (skip_nan_loss; kept in the trainer state)."""
        skip = self.step_runner.skip_nonfinite
        return skip.count if skip is not None else 0

    @skip_nan_loss_counter.setter
    def skip_nan_loss_counter(self, value: int) -> None:
        if self.step_runner.skip_nonfinite is not None:
            self.step_runner.skip_nonfinite.count = value

    @property
    def callback_context(self) -> CallbackContext:
        """The context of the model being trained (what its callbacks received)."""
        return self.callback_context_for(self._model)

    def callback_context_for(self, model: ModelBase | None) -> CallbackContext:
        """What callbacks of a run on `model` receive; runs on one trainer share the gradient
        norm meter and the models callbacks offer each other."""
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
            autocast=self.autocast,
            grad_scaler=self.grad_scaler,
            grad_norm=self.grad_norm,
            models=self._offered_models,
        )

    # ------------------------------------------------------------------ callbacks
    def get_user_callbacks(self, model: ModelBase, evaluation: bool = False) -> list[CallbackBase]:
        """The callbacks of `config.callbacks`, built from their kinds' targets as
        `Callback(callback_config, context=context)`."""
        del evaluation  # every user callback also runs in evaluation-only runs
        context = self.callback_context_for(model)
        callbacks = [build_component(cfg, context=context) for cfg in self.config.callbacks]
        for index, callback in enumerate(callbacks):  # their errors point at their lines
            callback.config_key = f"trainer.callbacks.{index}"
        return callbacks

    def get_trainer_callbacks(self, callback_default_args: dict[str, Any]) -> list[CallbackBase]:
        """Callbacks a trainer class contributes (none here), each built as
        `MyCallback(**callback_default_args, every_n_updates=10)`."""
        del callback_default_args
        return []

    def get_default_callback_intervals(self) -> dict[str, dict[str, int | None]]:
        """Intervals of the default callbacks: `{"log": {...}, "track": {...}}` (see
        `noether.core.callbacks.default.default_intervals`)."""
        return default_intervals(self.config, self.update_counter.total_updates)

    def get_default_callbacks(self, default_kwargs: dict[str, Any]) -> list[CallbackBase]:
        """The default logging callbacks (from `noether.core.callbacks.default`)."""
        intervals = self.get_default_callback_intervals()
        return build_default_callbacks(self.config, default_kwargs["context"], intervals)

    def get_all_callbacks(self, model: ModelBase) -> list[CallbackBase]:
        """User, default and trainer callbacks, each with a unique `state_key`."""
        # `CallbackCls(**default_args)` builds a config-less callback
        default_args = {"callback_config": None, "context": self.callback_context_for(model)}
        callbacks = self.get_user_callbacks(model)
        if self.config.add_default_callbacks:
            callbacks += self.get_default_callbacks(default_args)
        if self.config.add_trainer_callbacks:
            callbacks += self.get_trainer_callbacks(default_args)
        make_state_keys_unique(callbacks)
        return callbacks

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Counters, gradient scaler, callbacks (by state_key), every rank's RNG states, the
        data layout and the logged values (`noether.core.trainer.state`); on every rank."""
        return trainer_state(
            counter=self.update_counter,
            callbacks=self.callbacks,
            skip_nan_loss_counter=self.skip_nan_loss_counter,
            grad_scaler=self.grad_scaler,
            layout=self.data_layout(),
            log_writer=self.log_writer,
        )

    def data_layout(self) -> dict[str, int]:
        """What a stored position means: train set size, updates per epoch, ranks."""
        return describe_data_layout(
            self.data_container, self.updates_per_epoch, self.config.effective_batch_size
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores what `state_dict` returned (callbacks matched by state_key; this rank's
        RNG states, or fresh ones derived from the position when the world size changed)."""
        self.skip_nan_loss_counter = restore_trainer_state(
            state_dict,
            counter=self.update_counter,
            callbacks=self.callbacks,
            grad_scaler=self.grad_scaler,
            log_writer=self.log_writer,
            seed=self.data_container.seed,
            logger=self.logger,
        )

    def apply_resume_initializer(self, model: ModelBase) -> None:
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
        """One DataLoader for the whole run: training batches interleaved with those of due
        data-iterating callbacks; `batch_size` serves callbacks that set none."""
        return build_run_loader(
            self.data_container,
            self.update_counter,
            self.micro_batch_plan,
            iterator_callbacks,
            batch_size=batch_size,
            evaluation=evaluation,
            device=self.device,
            prefetch_factor=self.config.dataloader_prefetch_factor,
            main_sampler_kwargs=self.main_sampler_kwargs,
        )

    # ------------------------------------------------------------------ steps
    @abc.abstractmethod
    def loss_compute(self, forward_output: Any, targets: dict[str, Tensor]) -> LossResult:
        """The loss of one batch: a tensor, a dict of named losses, a list of losses, or
        `(losses, additional_outputs)`; the losses are summed for the backward pass."""

    @classmethod
    def item_keys(cls, config: BaseTrainerConfig[Any]) -> dict[str, list[str]]:
        """The item keys training reads, by the config field naming them: `noether-train` checks
        one train item for them before the model is built. A subclass adds the keys that other
        fields name; {} checks nothing (keys only a `train_step` knows are never checked)."""
        return {
            "forward_properties": list(config.forward_properties),
            "target_properties": list(config.target_properties),
        }

    @classmethod
    def forward_keys(
        cls, config: BaseTrainerConfig[Any], item_keys: Sequence[str]
    ) -> list[str] | None:
        """The keys that `train_step` passes to the model's forward by name, of an item with
        `item_keys`: `noether-train` checks the forward's signature for them before the first
        update. None, so nothing is checked, for a trainer with its own `train_step` (one
        that overrides this method too says what its `train_step` passes)."""
        if not says_what_train_step_passes(cls):
            return None
        splitter = BatchSplitter(config.forward_properties, config.target_properties)
        return splitter.forward_keys(item_keys)

    def train_step(self, batch: dict[str, Tensor], model: torch.nn.Module) -> TrainerResult:
        """`model(**forward inputs)`, then `loss_compute(output, targets)` -> TrainerResult."""
        forward, targets = self.batch_splitter.split(batch)
        return to_trainer_result(self.loss_compute(model(**forward), targets))

    def update(
        self,
        batch: dict[str, Tensor],
        dist_model: torch.nn.Module,
        model: ModelBase,
        accumulation_steps_total: int,
        accumulation_step: int,
        retain_graph: bool = False,
    ) -> StepResult:
        """Forward and backward of one micro-batch through `train_step`; the optimizer steps
        after the last one (`TrainStep.run`)."""
        steps, index = accumulation_steps_total, accumulation_step
        return self.step_runner.run(
            self.train_step, batch, dist_model, model, steps, index, retain_graph
        )

    drop_metadata = staticmethod(drop_metadata)

    # ------------------------------------------------------------------ wrapping
    def wrap_model(self, model: ModelBase) -> torch.nn.Module:
        """DDP first, then torch.compile; with `fullgraph` on several processes, torch.compile
        inside DDP (see `noether.core.trainer.compiling.compiles_inside_ddp`)."""
        if not getattr(model, "is_initialized", True):
            raise ValueError("the model must be initialized before wrapping")
        if compiles_inside_ddp(self.config, get_world_size()):
            return self.wrap_ddp(self.wrap_compile(model))
        return self.wrap_compile(self.wrap_ddp(model))

    def wrap_ddp(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel (with SyncBatchNorm) when there is more than one process."""
        ddp = wrap_ddp(
            model,
            self.device,
            find_unused_parameters=self.config.find_unused_params,
            static_graph=self.config.static_graph,
        )
        self.step_runner.ddp_model = (
            ddp if isinstance(ddp, torch.nn.parallel.DistributedDataParallel) else None
        )
        return ddp

    def wrap_compile(self, ddp_model: torch.nn.Module) -> torch.nn.Module:
        """torch.compile with the config's compile_options when use_torch_compile (see
        `wrap_model` for the order, `noether.core.trainer.compiling` for CUDA graphs)."""
        if not self.config.use_torch_compile:
            return ddp_model
        options = self.config.compile_options
        sizes = self.micro_batch_plan.sizes
        return compile_model(ddp_model, options, sizes, self.logger, self.device)

    def _write_error_checkpoint(self) -> None:
        """After a callback failed (see `CheckpointWriter.save_error`)."""
        if self.checkpoint_writer is not None and self._model is not None:
            self.checkpoint_writer.save_error(self._model, self, self.logger)

    # ------------------------------------------------------------------ training
    @property
    def total_training_updates(self) -> int:
        """Updates of the whole run (from the stop criterion)."""
        return self.update_counter.total_updates

    def train(self, model: ModelBase) -> None:
        """Trains `model` until the stop criterion (or a callback's early stop); the run
        itself is a `TrainerRun` (`noether.core.trainer.run`)."""
        ModelBase.check_instance(model)
        self._model = model
        self.callbacks = self.get_all_callbacks(model)
        self.stopped_by_signal = TrainerRun(self, model).train()

    def eval(self, model: ModelBase) -> None:
        """Evaluation only: every callback runs once on the model as it is (no update)."""
        ModelBase.check_instance(model)
        self._model = model
        self.callbacks = self.get_all_callbacks(model)
        TrainerRun(self, model).evaluate()


def _no_loss_compute(self: BaseTrainer, forward_output: Any, targets: dict[str, Tensor]) -> Any:
    """The loss_compute of a trainer whose own train_step computes the loss."""
    raise NotImplementedError(
        f"{type(self).__name__} has no loss_compute: its train_step computes the loss itself "
        "(implement loss_compute to call it)"
    )


__all__ = ["BaseTrainer", "epoch_updates"]
