"""Construction helpers of BaseTrainer: collaborators, intervals, data loader, DDP, results."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from noether.core.data.container import DataContainer
from noether.core.data.interleaved import (
    InterleavedBatchSampler,
    IteratorSlot,
    MultiDataset,
    seed_worker,
)
from noether.core.data.loader import RunDataLoader
from noether.core.distributed import get_rank, get_world_size, is_distributed
from noether.core.trainer.types import (
    LossResult,
    TrainerResult,
    TrainStepError,
    describe_non_scalar,
)

if TYPE_CHECKING:
    from noether.core.callbacks.base import CallbackBase, PeriodicDataIteratorCallback

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingEnd:
    """The stop criterion as configured (one of the three is set)."""

    epoch: int | None = None
    update: int | None = None
    sample: int | None = None


def updates_per_epoch(config: Any, data_container: DataContainer) -> int:
    """Whole updates in one pass over `train` (the rest of the epoch is dropped)."""
    trains = any((config.max_epochs, config.max_updates, config.max_samples))
    if "train" not in data_container:
        if trains:
            raise ValueError(
                f"a 'train' dataset is required to train (datasets: {data_container.keys()})"
            )
        return 1
    length = len(data_container.get_dataset("train"))  # type: ignore[arg-type]
    if length < config.effective_batch_size:
        if trains:
            raise ValueError(
                f"the train dataset has {length} samples, fewer than effective_batch_size "
                f"({config.effective_batch_size})"
            )
        return 1
    return length // config.effective_batch_size


def build_initializer(config: Any, path_provider: Any) -> Any:
    """The initializer of `config` (its kind's target), or None."""
    if config is None:
        return None
    from noether.core.build import build_component

    return build_component(config, path_provider=path_provider)


def build_log_writer(tracker: Any) -> Any:
    """A LogWriter over `tracker` (None without a tracker)."""
    if tracker is None:
        return None
    from noether.core.trackers.log_writer import LogWriter

    return LogWriter(tracker)


def build_checkpoint_writer(path_provider: Any, update_counter: Any) -> Any:
    """A CheckpointWriter into the run folder (None without one)."""
    if path_provider is None:
        return None
    from noether.core.checkpoint.writer import CheckpointWriter

    return CheckpointWriter(path_provider, update_counter)


def _every(config: Any, prefix: str) -> dict[str, int | None]:
    return {
        f"every_n_{unit}": getattr(config, f"{prefix}_every_n_{unit}")
        for unit in ("epochs", "updates", "samples")
    }


def default_intervals(config: Any, total_updates: int) -> dict[str, dict[str, int | None]]:
    """log / track intervals: as configured, else 1/100 and 1/500 of the updates (>= 1)."""
    result: dict[str, dict[str, int | None]] = {}
    for prefix, fraction in (("log", 100), ("track", 500)):
        every = _every(config, prefix)
        if not any(v is not None for v in every.values()):
            every["every_n_updates"] = max(1, total_updates // fraction)
        result[prefix] = every
    return result


def build_default_callbacks(
    config: Any, context: Any, intervals: dict[str, dict[str, int | None]]
) -> list[CallbackBase]:
    """The default callbacks from `noether.core.callbacks.default` (none if not installed)."""
    try:
        from noether.core.callbacks.default import build_default_callbacks as build
    except ImportError as error:
        if error.name is not None and error.name.startswith("noether.core.callbacks.default"):
            _logger.warning("default callbacks are not available: %s", error)
            return []
        raise
    return list(build(config, context, intervals))


def to_trainer_result(result: LossResult) -> TrainerResult:
    """Sums what `loss_compute` returned into a TrainerResult.

    Raises:
        TrainStepError: the result has none of the accepted forms, holds no loss, or a loss
            that is not a scalar tensor (named by its key).
    """
    additional: dict[str, Any] = {}
    if isinstance(result, tuple):
        if len(result) != 2 or not isinstance(result[1], dict):
            raise TrainStepError(
                "loss_compute returned a tuple; it must be (losses, additional_outputs: dict)"
            )
        result, additional = result
    if isinstance(result, Tensor):
        _check_scalar("the loss", result)
        return TrainerResult(result, {"total": result}, additional)
    if isinstance(result, list):
        losses = {f"loss_{i}": loss for i, loss in enumerate(result)}
    elif isinstance(result, dict):
        losses = result
    else:
        raise TrainStepError(
            f"loss_compute returned {type(result).__name__}; expected a tensor, a dict or a "
            "list of tensors, or (losses, additional_outputs)"
        )
    if not losses:
        raise TrainStepError(
            "loss_compute returned no losses (an empty dict or list): nothing to backpropagate"
        )
    for name, value in losses.items():
        _check_scalar(f"loss {name!r}", value)
    values = iter(losses.values())
    total = next(values)
    for value in values:
        total = total + value
    return TrainerResult(total, losses, additional)


def _check_scalar(what: str, value: Any) -> None:
    """A loss must be a tensor with one element (what backward and the loggers need)."""
    if isinstance(value, Tensor) and (value.dim() == 0 or value.numel() == 1):
        return
    raise TrainStepError(
        f"loss_compute returned {what} as {describe_non_scalar(value)}; each loss must be a "
        "scalar tensor (reduce it, e.g. with .mean())"
    )


def wrap_ddp(trainer: Any, model: torch.nn.Module) -> torch.nn.Module:
    """DistributedDataParallel with SyncBatchNorm when world size > 1; else the model."""
    if not is_distributed() or get_world_size() == 1:
        return model
    config = trainer.config
    if not any(p.requires_grad for p in model.parameters()):
        # DDP refuses modules without trainable parameters; just make the weights agree
        for tensor in [*model.parameters(), *model.buffers()]:
            torch.distributed.broadcast(tensor.data, src=0)
        _logger.info("no trainable parameters: weights broadcast, model not wrapped in DDP")
        return model
    device = trainer.device
    if device.type == "cuda":
        converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:
            raise TypeError("the model itself is a BatchNorm layer; wrap it in a ModelBase")
    elif any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        # SyncBatchNorm runs on accelerators only; on CPU each rank keeps its own statistics
        _logger.warning("BatchNorm is not synchronised across ranks on %s", device.type)
    return torch.nn.parallel.DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" and device.index is not None else None,
        find_unused_parameters=config.find_unused_params,
        static_graph=config.static_graph,
    )


def build_data_loader(
    trainer: Any,
    iterator_callbacks: list[PeriodicDataIteratorCallback],
    batch_size: int,
    evaluation: bool,
) -> DataLoader[Any]:
    """The run's one DataLoader (see `InterleavedBatchSampler`)."""
    container: DataContainer = trainer.data_container
    counter = trainer.update_counter
    datasets = []
    main_sampler = None
    if not evaluation:
        train = container.get_dataset("train")
        datasets.append(train)
        main_sampler = container.get_main_sampler(train, **trainer.main_sampler_kwargs)
    offset = sum(len(d) for d in datasets)  # type: ignore[arg-type,misc]
    slots = []
    for callback in iterator_callbacks:
        dataset = container.get_dataset(callback.dataset_key)
        indices = [offset + i for i in callback.sample_indices()]
        slots.append(IteratorSlot(callback.frequency, indices, callback.batch_size or batch_size))
        datasets.append(dataset)
        offset += len(dataset)  # type: ignore[arg-type]
    sampler = InterleavedBatchSampler(
        main_sampler=main_sampler,
        batch_size=batch_size,
        accumulation_steps=trainer.accumulation_steps,
        micro_batch_sizes=trainer.micro_batch_plan.sizes,
        updates_per_epoch=counter.updates_per_epoch,
        effective_batch_size=counter.effective_batch_size,
        start=(counter.epoch, counter.update, counter.sample),
        total_updates=counter.total_updates,
        slots=slots,
        # workers restart on resume: their items are seeded per batch (see SeededBatch)
        seed=container.seed if container.num_workers > 0 else None,
        rank=get_rank(),
    )
    num_workers = container.num_workers
    pin_memory = container.pin_memory
    if pin_memory is None:
        pin_memory = trainer.device.type == "cuda"
    generator = torch.Generator()
    generator.manual_seed(container.seed + get_rank())
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra["persistent_workers"] = True
        extra["prefetch_factor"] = trainer.config.dataloader_prefetch_factor
        extra["worker_init_fn"] = seed_worker
    return RunDataLoader(
        MultiDataset(datasets),
        batch_sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=generator,
        **extra,
    )
