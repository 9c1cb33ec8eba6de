"""Turns a validated ExperimentConfig into runtime objects: datasets, model, tracker, trainer.

Every component is built from its kind's `target` with its config as first argument and anything
else by keyword; nothing is imported before its kind is looked up, so a kind whose package is
missing fails here, by name.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from noether.config import ExperimentConfig, ModelConfig, RegistryBase
from noether.core.data import DataContainer
from noether.core.distributed import broadcast_object, get_local_rank, get_rank, is_rank0
from noether.core.failures import BUILDING
from noether.core.launch import LaunchEnvironment, detect
from noether.core.models import ModelBase
from noether.core.optim.builder import check_lr_scale_keys
from noether.core.rendezvous import Rendezvous, join
from noether.core.rng import seed_all
from noether.core.runs import PathProvider, RunFolderError
from noether.core.trackers.base import TrackerBase

logger = logging.getLogger(__name__)


class BuildError(Exception):
    """The experiment cannot be built as configured (device, component types)."""


class ConfigKeyError(BuildError):
    """A build or run error about one key of the experiment file (`trainer.field_weights.v`).

    `noether-train` fills `site` (`file:line`) from the config it loaded, so the message points
    at the line to change, as validation errors do; the key path alone without a file.
    """

    def __init__(self, message: str, key_path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key_path = key_path
        self.site = ""

    def __str__(self) -> str:
        if self.key_path is None:
            return self.message
        return f"{self.site + ': ' if self.site else ''}{self.key_path}: {self.message}"

    def locate(self, config: ExperimentConfig) -> None:
        """Fills `site` with the file and line of `key_path` in `config` (once)."""
        if self.key_path is not None and not self.site:
            self.site = config.where(self.key_path)


@dataclass
class Experiment:
    """Everything `noether-train` needs to run one experiment."""

    config: ExperimentConfig
    device: torch.device
    path_provider: PathProvider
    data_container: DataContainer
    model: ModelBase
    tracker: TrackerBase
    trainer: Any
    """A `noether.core.trainer.BaseTrainer` subclass instance."""


def resolve_device(spec: str) -> torch.device:
    """`auto` | `cpu` | `cuda` | `cuda:N` to a device that exists.

    Under torchrun, `auto` and `cuda` pick the GPU of LOCAL_RANK.

    Raises:
        ConfigKeyError: CUDA is asked for but absent, or `cuda:N` does not exist (at
            `device`).
    """
    if spec == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if spec == "auto":
        if not available:
            return torch.device("cpu")
        return torch.device("cuda", get_local_rank() % torch.cuda.device_count())
    if not spec.startswith("cuda"):
        raise ConfigKeyError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)", "device")
    if not available:
        raise ConfigKeyError(
            f"{spec!r} was requested but CUDA is not available here "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}); "
            "use device: auto or device: cpu",
            "device",
        )
    count = torch.cuda.device_count()
    # one device per local rank; a task that sees only its own GPU(s) counts from 0
    index = int(spec.partition(":")[2] or get_local_rank() % max(count, 1))
    if index >= count:
        raise ConfigKeyError(f"{spec!r} does not exist ({count} CUDA device(s) visible)", "device")
    return torch.device("cuda", index)


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch (all devices) identically."""
    seed_all(seed)


def init_distributed_from_env(
    device: torch.device, meeting: Rendezvous | None = None
) -> LaunchEnvironment:
    """Joins the process group when started by torchrun or srun with more than one process
    (and not joined yet); see `noether.core.launch`.

    Args:
        device: this rank's device (its backend: NCCL for CUDA, gloo otherwise).
        meeting: the ranks, met already (`noether.core.rendezvous`); met here when None.

    Returns:
        Who launched this process, and its rank.
    """
    launch = detect() if meeting is None else meeting.launch
    if launch.world_size <= 1 or dist.is_initialized():
        return launch
    if meeting is None:
        meeting = join(launch)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        store=dist.PrefixStore("default_pg", meeting.store),  # type: ignore[attr-defined]
        rank=launch.rank,
        world_size=launch.world_size,
    )
    return launch


def create_path_provider(config: ExperimentConfig, run_id: str | None = None) -> PathProvider:
    """Rank 0 makes a new run folder (named `run_id` when given); the other ranks receive its
    id, or the error that kept rank 0 from making it.

    Raises:
        FileExistsError: the folder `run_id` exists (runs are never overwritten).
        RunFolderError: no folder can be made under `output_path`.
    """
    if is_rank0():
        try:
            path_provider = PathProvider(config.output_path, config.name, run_id)
        except (FileExistsError, RunFolderError) as error:
            broadcast_object((type(error).__name__, str(error)))
            raise
        broadcast_object(("run_id", path_provider.run_id))
        return path_provider
    kind, value = broadcast_object(None)
    if kind == FileExistsError.__name__:
        raise FileExistsError(value)
    if kind == RunFolderError.__name__:
        raise RunFolderError(value)
    return PathProvider(config.output_path, config.name, value, create=False)


def build_component(config: RegistryBase, **kwargs: Any) -> Any:
    """`config.load_target()(config, **kwargs)`: the config positional, the rest by keyword.

    Raises:
        KindError: the target's package is not installed (named in the message).
        BuildError: the target is an abstract class (the message names the methods it
            lacks), or its constructor does not take these arguments (the message names
            the class, how it is called and its signature).
    """
    target = config.load_target()
    if inspect.isabstract(target):
        missing = sorted(getattr(target, "__abstractmethods__", ()))
        advice = getattr(target, "abstract_advice", {})  # a class's own word, where it has one
        to_do = [advice[name] for name in missing if name in advice] or ["define them in the class"]
        raise BuildError(
            f"cannot build {config.target} (kind {config.kind!r}): {target.__qualname__} does "
            f"not implement the abstract method(s) {', '.join(missing)}; {'; '.join(to_do)}"
        )
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # none to read: the call tells
        try:
            return target(config, **kwargs)
        except TypeError as error:
            raise BuildError(constructor_mismatch(config, target, kwargs, error)) from error
    try:
        signature.bind(config, **kwargs)
    except TypeError as error:
        raise BuildError(constructor_mismatch(config, target, kwargs, error)) from error
    # a TypeError of the constructor's own code (`len()` of a dataset without one) is that
    # code's error, not a signature that does not fit
    return target(config, **kwargs)


def build_keywords(config: RegistryBase) -> tuple[str, ...] | None:
    """The keywords that a run builds the runtime class of `config` with, after the config
    itself (`build_component`), by its root; None for kinds built otherwise (optimizers and
    schedules get the model's parameters)."""
    from noether.config import (
        BaseTrainerConfig,
        CallbackConfig,
        DatasetConfig,
        InitializerConfig,
        TrackerConfig,
    )

    if isinstance(config, BaseTrainerConfig):
        return TRAINER_KEYWORDS
    if isinstance(config, CallbackConfig):
        return ("context",)
    if isinstance(config, InitializerConfig):
        return ("path_provider",)
    if isinstance(config, DatasetConfig | ModelConfig | TrackerConfig):
        return ()
    return None


TRAINER_KEYWORDS = ("data_container", "device", "tracker", "path_provider")
"""What `build_experiment` passes a trainer besides its config."""


def constructor_mismatch(
    config: RegistryBase, target: Any, kwargs: dict[str, Any], error: TypeError
) -> str:
    """Why `target(config, **kwargs)` does not fit the target's signature, and how to fix it."""
    name = getattr(target, "__qualname__", repr(target))
    try:
        signature = f"{name}{inspect.signature(target)}"
    except (TypeError, ValueError):
        signature = name
    call = ", ".join(["config", *(f"{key}=..." for key in kwargs)])
    if kwargs:
        advice = (
            "Take the config first and the rest by keyword, e.g. def __init__(self, config, "
            "**kwargs): super().__init__(config, **kwargs)"
        )
    else:  # a dataset or model: a torch Dataset's own __init__ takes no config
        advice = "Take the config alone, e.g. def __init__(self, config)"
    return (
        f"cannot build {config.target} (kind {config.kind!r}): {error}. noether builds it as "
        f"{name}({call}); its signature is {signature}. {advice}"
    )


def build_datasets(config: ExperimentConfig) -> DataContainer:
    """Every dataset of `config` from its kind's target, in one DataContainer; an error of a
    dataset's constructor gets a note naming its key and line (see `failures.BUILDING`)."""
    datasets = {}
    for key, dataset_config in config.datasets.items():
        try:
            datasets[key] = build_component(dataset_config)
        except Exception as exc:
            where = config.where(f"datasets.{key}")
            exc.add_note(f"{BUILDING}datasets.{key}" + (f" ({where})" if where else ""))
            raise
    return DataContainer(datasets, num_workers=config.num_workers, seed=config.seed)


def build_model(config: ExperimentConfig) -> ModelBase:
    """The model of an experiment from its kind's target (see `build_model_from`).

    Raises:
        BuildError: a key of `model.optimizer.lr_scale` names no parameter of the model.
    """
    model = build_model_from(config.model)
    optimizer = config.model.optimizer
    if optimizer is not None and optimizer.lr_scale:
        # the parameter names are known once the model is built: a key that matches none is
        # a mistake in the file, reported at its line as validation reports the others
        try:
            check_lr_scale_keys(optimizer.lr_scale, model)
        except ValueError as error:
            site = config.where("model.optimizer.lr_scale")
            raise BuildError(f"{site}: {error}" if site else str(error)) from None
    return model


def build_model_from(model_config: ModelConfig) -> ModelBase:
    """The model of one validated model schema, from its kind's target (also how a trained
    model is rebuilt from its run folder).

    Raises:
        BuildError: the target built something that is not a ModelBase, or one whose
            `__init__` skipped ModelBase's.
    """
    model = build_component(model_config)
    if not isinstance(model, ModelBase):
        raise BuildError(
            f"model: {model_config.target} built a {type(model).__name__}, which is not a "
            "noether.core.models.ModelBase subclass"
        )
    try:
        ModelBase.check_instance(model)
    except TypeError as error:
        raise BuildError(f"model: {model_config.target}: {error}") from None
    return model


def check_metric_readers(trainer_config: Any, data_container: DataContainer) -> None:
    """A reader of a default callbacks' metric that would run before their first row, in a run
    measured in epochs (its length in updates is known from the data's size only; validation
    told the others), before the model is built.

    Raises:
        ConfigKeyError: at the reader's `every_n_updates`.
    """
    from noether.config.default_metrics import default_metric_reader_problems
    from noether.core.trainer.batching import epoch_updates

    if not trainer_config.max_epochs:
        return
    total = trainer_config.max_epochs * epoch_updates(trainer_config, data_container)
    for key_path, message in default_metric_reader_problems(trainer_config, total):
        raise ConfigKeyError(message, key_path)


def build_experiment(
    config: ExperimentConfig,
    path_provider: PathProvider | None = None,
    resumed_at: int | None = None,
    tracker: TrackerBase | None = None,
    before_tracker_start: Callable[[Any], None] | None = None,
    tracked_config: ExperimentConfig | None = None,
) -> Experiment:
    """Seeds, resolves the device and builds datasets, model, tracker and trainer.

    Args:
        config: a validated experiment.
        path_provider: the run folder; a new one is made when None.
        resumed_at: the update a run continued in its own folder resumes from (trackers
            drop or supersede what the interrupted run logged after it).
        tracker: the tracker, when built already (`noether-train` builds it before the run
            folder, so that a tracker whose library is missing leaves no folder behind).
        before_tracker_start: called with the trainer once everything is built and the
            checkpoint to start from is read, before the tracker starts (which may read the
            run's config.yaml): a resume writes the run's files there, so one that fails
            earlier changes none.
        tracked_config: the config the tracker records (`config` when None): a `--resume`
            builds with an initializer that the run's own config, its config.yaml, has not.

    Raises:
        BuildError: bad device or a model that is not a ModelBase.
        KindError: a kind whose implementing package is not installed.
    """
    device = resolve_device(config.device)
    init_distributed_from_env(device)
    seed_everything(config.seed + get_rank())
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    if path_provider is None:
        path_provider = create_path_provider(config)
    data_container = build_datasets(config)
    # imported here: they report with this module's ConfigKeyError
    from noether.core.data.item_keys import check_train_item
    from noether.core.trainer.forward_check import check_forward_signature

    check_train_item(config.trainer, data_container)  # a missing key, before the model
    check_metric_readers(config.trainer, data_container)
    model = build_model(config)
    check_forward_signature(config.trainer, data_container, model)
    if tracker is None:
        tracker = build_component(config.tracker)
    trainer = build_component(  # with TRAINER_KEYWORDS
        config.trainer,
        data_container=data_container,
        device=device,
        tracker=tracker,
        path_provider=path_provider,
    )
    initializer = getattr(trainer, "initializer", None)
    if initializer is not None:  # a checkpoint that cannot be restored changes no file
        initializer.prepare(model)
    if before_tracker_start is not None:
        before_tracker_start(trainer)
    tracked = config if tracked_config is None else tracked_config
    tracker.start(path_provider, tracked.model_dump(mode="json"), resumed_at=resumed_at)
    logger.info(
        "built %s: model %s, datasets %s, device %s",
        path_provider.run_dir,
        type(model).__name__,
        data_container,
        device,
    )
    return Experiment(
        config=config,
        device=device,
        path_provider=path_provider,
        data_container=data_container,
        model=model,
        tracker=tracker,
        trainer=trainer,
    )
