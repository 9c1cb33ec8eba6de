"""One DataLoader for training and periodic evaluation: batches interleaved in loop order.

The batch sampler runs in the main process and replays the loop's counters ahead of it:
it yields the micro-batches of each update and, right after an update (or epoch) at which a
`PeriodicDataIteratorCallback` is due, all batches of that callback's dataset. The loop
consumes the same stream in the same order, so data workers start once for the whole run.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from noether.core.counters import Frequency
from noether.core.data.batch_items import FetchedItems, check_getitems, note_reading
from noether.core.data.container import ShardedEpochSampler
from noether.core.rng import derive_seed, seed_all

# what a seeded batch is for (part of its seed)
_TRAIN, _AFTER_UPDATE, _AFTER_EPOCH, _EVALUATION = range(4)


class MultiDataset(Dataset[Any]):
    """Several datasets behind one index space (offsets in the order given); `names` (one
    per dataset) name a batch's dataset in the errors of items that do not stack."""

    def __init__(
        self, datasets: Sequence[Dataset[Any]], names: Sequence[str] | None = None
    ) -> None:
        self.datasets = list(datasets)
        self.names = list(names) if names is not None else None
        self.offsets: list[int] = []
        total = 0
        for dataset in self.datasets:
            self.offsets.append(total)
            total += len(dataset)  # type: ignore[arg-type]
        self.total = total

    def __len__(self) -> int:
        return self.total

    def _locate(self, index: int) -> int:
        i = bisect.bisect_right(self.offsets, index) - 1
        if i < 0:
            raise IndexError(index)
        return i

    def __getitem__(self, index: int) -> Any:
        i = self._locate(index)
        return self.datasets[i][index - self.offsets[i]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """A whole batch (the DataLoader's batched fetch): all indices of a batch come from
        one dataset, so it is located once; a dataset's own `__getitems__` is used.

        A `SeededBatch` first seeds the process's RNGs (in data workers: see there). An error
        of the dataset gets a note naming the dataset and the index (`note_reading`)."""
        seed = getattr(indices, "seed", None)
        if seed is not None:
            seed_all(seed)
        i = self._locate(indices[0])
        dataset, offset = self.datasets[i], self.offsets[i]
        local = [index - offset for index in indices] if offset else indices
        getitems = getattr(dataset, "__getitems__", None)
        name = self.names[i] if self.names is not None else None
        if getitems is not None:
            try:
                returned = getitems(local)
            except (Exception, SystemExit) as error:  # sys.exit() in the dataset too
                note_reading(error, name, local)
                raise
            items = FetchedItems(returned, name, local)
            check_getitems(returned, items, local, name, getitems)
            return items
        reading = local[0]
        try:
            # the comprehension's `:=` binds `reading` here: the index that raised, at the
            # cost of a store per item, not a try and an append (tools/bench/loop_overhead.py)
            return FetchedItems([dataset[(reading := index)] for index in local], name, local)
        except (Exception, SystemExit) as error:
            note_reading(error, name, [reading])
            raise


class SeededBatch(list[int]):
    """A batch's indices and the seed its items are drawn with.

    Data workers restart when a run resumes, so whatever their RNGs had drawn is lost;
    seeding them per batch from the batch's place in the run (seed, rank, epoch, position)
    makes a dataset that draws random numbers (augmentation, point sampling) give the same
    items in a resumed run as in the uninterrupted one. Without workers, items are drawn
    from the training process's RNGs, which checkpoints hold.
    """

    seed: int

    def __init__(self, indices: list[int], seed: int) -> None:
        super().__init__(indices)
        self.seed = seed


@dataclass
class IteratorSlot:
    """What the sampler needs to know about one data-iterating callback."""

    frequency: Frequency
    indices: list[int]
    """This rank's (padded) indices of the callback's dataset, already offset."""
    batch_size: int

    def batches(self) -> Iterator[list[int]]:
        for start in range(0, len(self.indices), self.batch_size):
            yield self.indices[start : start + self.batch_size]


class InterleavedBatchSampler(Sampler[list[int]]):
    """Training micro-batches plus due callbacks' batches, for the whole run, in loop order.

    Args:
        main_sampler: shards and orders the training set per epoch (None: evaluation only).
        batch_size: (largest) micro-batch size per device.
        accumulation_steps: micro-batches per update.
        updates_per_epoch: updates in one epoch.
        effective_batch_size: samples per update over all ranks (for sample counting).
        start: (epoch, update, sample) to start from (resume, start_at_epoch).
        total_updates: the update at which training ends.
        slots: the data-iterating callbacks, in the order the loop calls them.
        micro_batch_sizes: sizes of an update's micro-batches when they differ (see
            `noether.config.batching.split_batch`); default: accumulation_steps x batch_size.
        seed: when given, batches are `SeededBatch`es seeded from (seed, rank, place in
            the run), for data workers.
        rank: this process's rank (part of the seeds).
    """

    def __init__(
        self,
        main_sampler: ShardedEpochSampler | None,
        batch_size: int,
        accumulation_steps: int,
        updates_per_epoch: int,
        effective_batch_size: int,
        start: tuple[int, int, int],
        total_updates: int,
        slots: Sequence[IteratorSlot],
        micro_batch_sizes: Sequence[int] | None = None,
        seed: int | None = None,
        rank: int = 0,
    ) -> None:
        self.seed = seed
        self.rank = rank
        self.main_sampler = main_sampler
        self.batch_size = batch_size
        self.accumulation_steps = accumulation_steps
        self.updates_per_epoch = updates_per_epoch
        self.effective_batch_size = effective_batch_size
        self.start = start
        self.total_updates = total_updates
        self.slots = list(slots)
        self.micro_batch_sizes = tuple(micro_batch_sizes or (batch_size,) * accumulation_steps)
        if len(self.micro_batch_sizes) != accumulation_steps:
            raise ValueError(
                f"{len(self.micro_batch_sizes)} micro-batch sizes for {accumulation_steps} "
                "accumulation steps"
            )

    @property
    def evaluation(self) -> bool:
        """No update left: every callback's batches once."""
        return self.main_sampler is None or self.start[1] >= self.total_updates

    def _seeded(self, batch: list[int], *place: int) -> list[int]:
        if self.seed is None:
            return batch
        return SeededBatch(batch, derive_seed(self.seed, self.rank, *place))

    def _slot_batches(self, index: int, slot: IteratorSlot, *place: int) -> Iterator[list[int]]:
        for number, batch in enumerate(slot.batches()):
            yield self._seeded(batch, *place, index, number)

    def __iter__(self) -> Iterator[list[int]]:
        if self.evaluation:
            for index, slot in enumerate(self.slots):
                yield from self._slot_batches(index, slot, _EVALUATION)
            return
        assert self.main_sampler is not None
        epoch, update, sample = self.start
        sizes = self.micro_batch_sizes
        per_update = sum(sizes)
        ebs = self.effective_batch_size
        while update < self.total_updates:
            self.main_sampler.set_epoch(epoch)
            order = list(self.main_sampler)
            if len(order) < self.updates_per_epoch * per_update:
                raise ValueError(
                    f"the training shard has {len(order)} samples but an epoch needs "
                    f"{self.updates_per_epoch * per_update}"
                )
            position = (update - epoch * self.updates_per_epoch) * per_update
            while update < self.total_updates:
                for size in sizes:
                    batch = order[position : position + size]
                    yield self._seeded(batch, _TRAIN, epoch, position)
                    position += size
                update += 1
                sample += ebs
                for index, slot in enumerate(self.slots):
                    if slot.frequency.due_after_update(update, sample, ebs):
                        yield from self._slot_batches(index, slot, _AFTER_UPDATE, update)
                if update % self.updates_per_epoch == 0:
                    epoch += 1
                    for index, slot in enumerate(self.slots):
                        if slot.frequency.due_after_epoch(epoch):
                            yield from self._slot_batches(index, slot, _AFTER_EPOCH, epoch)
                    break

    def __len__(self) -> int:
        # only used for progress displays; counting would mean replaying the run
        return max(self.total_updates - self.start[1], 0) * self.accumulation_steps


def seed_worker(worker_id: int) -> None:
    """Seeds Python's and NumPy's RNGs of a data worker from torch's per-worker seed.

    torch seeds each worker from the DataLoader's generator (seeded per rank), so this is
    reproducible and different per worker and per rank.
    """
    del worker_id
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
