"""The run's DataLoader: torch's, with a lean iterator where no worker process runs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

# torch's worker seeds numpy.random first thing: imported here, not in a forked worker, where
# a fork taken while another thread imported (a tracker's) left importlib's locks broken
import numpy.random
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, default_collate

from noether.core.data.batch_items import UnstackableItemsError, describe_mismatch
from noether.core.data.container import DataContainer
from noether.core.data.interleaved import InterleavedBatchSampler, IteratorSlot, MultiDataset
from noether.core.data.prefetch import map_tensors
from noether.core.data.workers import WorkerInit
from noether.core.distributed import get_rank

if TYPE_CHECKING:
    from noether.config.batching import MicroBatchPlan
    from noether.core.callbacks.base import PeriodicDataIteratorCallback
    from noether.core.counters import UpdateCounter

logger = logging.getLogger(__name__)


def usable_cpus() -> int | None:
    """The CPUs this process may run on (its affinity where the OS tells it), None if unknown."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


class RunDataLoader(DataLoader[Any]):
    """A DataLoader that fetches batches in this process without torch's per-batch bookkeeping.

    Without workers, torch's iterator still wraps each batch in a profiler record and its
    own bookkeeping (measured by `tools/bench/loop_overhead.py`). Here each batch is fetched
    (the dataset's `__getitems__` where it has one, as torch's fetcher does), collated and
    pinned when `pin_memory` is set and CUDA is present; torch's `default_collate` (or
    `collate_items`) becomes `collate_tensor_dicts`. With workers, or without a batch
    sampler, torch's own iterator runs.

    More workers than usable CPUs are warned about once per loader, in the run's log and
    naming `num_workers`: torch warns when the loader is built and again for each iterator,
    as a Python warning pointing at its own line.
    """

    def check_worker_number_rationality(self) -> None:
        """torch's check of the worker count (see the class), once."""
        if getattr(self, "_worker_count_checked", False):
            return
        self._worker_count_checked = True
        cpus = usable_cpus()
        if self.num_workers > 0 and cpus is not None and self.num_workers > cpus:
            logger.warning(
                "num_workers is %d, more than the %d CPUs this process may use: the data "
                "workers compete for them (loading may slow down or freeze); lower num_workers",
                self.num_workers,
                cpus,
            )

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        if (
            self.num_workers > 0
            or self.batch_sampler is None
            or isinstance(self.dataset, IterableDataset)
        ):
            return super().__iter__()
        collate = self.collate_fn
        if collate is default_collate or collate is collate_items:
            collate = collate_tensor_dicts
        dataset = self.dataset
        getitems = getattr(dataset, "__getitems__", None)
        if getitems is None:

            def getitems(indices: list[int]) -> list[Any]:
                return [dataset[i] for i in indices]

        batches = map(collate, map(getitems, self.batch_sampler))
        if self.pin_memory and torch.cuda.is_available():
            return map(pin_batch, batches)
        return batches


def pin_batch(batch: Any) -> Any:
    """The batch with its tensors in page-locked memory (walked as by `map_tensors`)."""
    return map_tensors(Tensor.pin_memory, batch)


def collate_items(items: list[Any]) -> Any:
    """`default_collate`, except that items that do not stack (or differ in dtype, which
    `default_collate` would cast to the first item's) raise `UnstackableItemsError` naming
    the dataset, key and samples (see `describe_mismatch`); the run's collate in data
    workers, where `default_collate` stacks straight into shared memory."""
    if (_mixed_dtypes(items) or _extra_keys(items)) and (
        message := describe_mismatch(items)
    ) is not None:
        # before stacking: default_collate casts arrays of other dtypes to the first one's
        # and drops the keys that the first item lacks
        raise UnstackableItemsError(message)
    try:
        return default_collate(items)
    except (KeyError, TypeError, AttributeError, RuntimeError) as error:
        # in workers torch sizes the shared output from each item: 'float' has no 'numel'
        message = describe_mismatch(items)
        if message is None:
            raise
        raise UnstackableItemsError(message) from error


def _mixed_dtypes(items: list[Any]) -> bool:
    """Whether a key's arrays differ in dtype across the items (top-level keys of dict items;
    a full `describe_mismatch` per batch would cost most of what collating does)."""
    first = items[0]
    if not isinstance(first, dict):
        return False
    for key, value in first.items():
        if isinstance(value, Tensor | np.ndarray):
            dtypes = {getattr(item.get(key), "dtype", None) for item in items if type(item) is dict}
            if len(dtypes) > 1:
                return True
    return False


def _extra_keys(items: list[Any]) -> bool:
    """Whether a dict item holds a key that the first item lacks, at any depth (an item that
    lacks one of the first item's keys fails in `default_collate` instead)."""
    first = items[0]
    if not isinstance(first, Mapping) or not all(isinstance(item, Mapping) for item in items):
        return False
    if sum(map(len, items)) > len(first) * len(items):
        return True
    return any(
        _extra_keys([item.get(key) for item in items])
        for key, value in first.items()
        if isinstance(value, Mapping)
    )


def collate_tensor_dicts(items: list[Any]) -> Any:
    """`collate_items` for noether's items, dicts of dense tensors, without `default_collate`'s
    type dispatch per value (measured by `tools/bench/loop_overhead.py`); any other batch,
    and any error, is left to `collate_items`."""
    first = items[0]
    if type(first) is dict and all(
        type(value) is Tensor and value.layout is torch.strided for value in first.values()
    ):
        try:
            batch = {key: torch.stack([item[key] for item in items]) for key in first}
        except (TypeError, KeyError, RuntimeError):
            pass  # collate_items' own handling or error message
        else:
            # every item has the first one's keys (no KeyError): more in all means an item
            # has a key the first lacks, which the batch would drop (collate_items names it)
            if sum(map(len, items)) != len(first) * len(items):
                return collate_items(items)
            # torch.stack promotes mixed dtypes where default_collate casts to the first
            # item's: a batch whose dtype moved is refused as in workers (collate_items); one
            # whose first item holds the widest dtype is the same batch either way. One check
            # per key, not per item (tools/bench/loop_overhead.py)
            if all(batch[key].dtype is value.dtype for key, value in first.items()):
                return batch
    return collate_items(items)


def build_run_loader(
    container: DataContainer,
    counter: UpdateCounter,
    plan: MicroBatchPlan,
    iterator_callbacks: Sequence[PeriodicDataIteratorCallback],
    *,
    batch_size: int,
    evaluation: bool,
    device: torch.device,
    prefetch_factor: int | None,
    main_sampler_kwargs: dict[str, Any] | None = None,
) -> DataLoader[Any]:
    """The run's one DataLoader: training batches interleaved with the batches of due
    data-iterating callbacks (see `InterleavedBatchSampler`), so workers start once.

    Args:
        container: the run's datasets and loader settings.
        counter: where training starts and ends.
        plan: the micro-batches of one update on this rank.
        iterator_callbacks: callbacks that read their own dataset through this loader.
        batch_size: the batch size of those callbacks that set none.
        evaluation: no training batches (evaluation-only runs).
        device: pin memory by default when it is a CUDA device.
        prefetch_factor: batches each worker loads ahead.
        main_sampler_kwargs: keyword arguments of `DataContainer.get_main_sampler`.

    Raises:
        ValueError: a callback's dataset has no samples.
    """
    datasets = []
    names = []
    main_sampler = None
    if not evaluation:
        train = container.get_dataset("train")
        datasets.append(train)
        names.append("train")
        main_sampler = container.get_main_sampler(train, **(main_sampler_kwargs or {}))
    offset = sum(len(d) for d in datasets)  # type: ignore[arg-type,misc]
    slots = []
    for callback in iterator_callbacks:
        dataset = container.get_dataset(callback.dataset_key)
        if len(dataset) == 0:  # type: ignore[arg-type]
            # refused before the first update, not when the callback is first due
            raise ValueError(
                f"dataset '{callback.dataset_key}' has no samples, but {callback!r} reads it"
            )
        indices = [offset + i for i in callback.sample_indices()]
        slots.append(IteratorSlot(callback.frequency, indices, callback.batch_size or batch_size))
        datasets.append(dataset)
        names.append(callback.dataset_key)
        offset += len(dataset)  # type: ignore[arg-type]
    sampler = InterleavedBatchSampler(
        main_sampler=main_sampler,
        batch_size=batch_size,
        accumulation_steps=plan.accumulation_steps,
        micro_batch_sizes=plan.sizes,
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
        pin_memory = device.type == "cuda"
    generator = torch.Generator()
    generator.manual_seed(container.seed + get_rank())
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra["persistent_workers"] = True
        extra["prefetch_factor"] = prefetch_factor
        extra["worker_init_fn"] = WorkerInit(num_workers)
    return RunDataLoader(
        MultiDataset(datasets, names),
        batch_sampler=sampler,
        collate_fn=collate_items,  # its errors name dataset and key, in workers too
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=generator,
        **extra,
    )
