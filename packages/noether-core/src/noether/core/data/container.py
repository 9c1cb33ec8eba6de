"""Named datasets and the sampler that orders (and shards) the training set."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import Dataset, IterableDataset, Sampler

from noether.core.data.sharding import shard_size, take_shard
from noether.core.distributed import get_rank, get_world_size


class ShardedEpochSampler(Sampler[int]):
    """Seeded shuffling per epoch, then every `world_size`-th index for this rank.

    Like DistributedSampler with drop_last: the permutation is the same on all ranks (seeded
    with seed + epoch) and each rank takes its `take_shard(..., drop_last=True)` positions
    of it (see `noether.core.data.sharding`). The union of all ranks' i-th batches is then the
    i-th batch a single process with W times the batch size would see.
    """

    def __init__(
        self,
        length: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        self.length = length
        self.shuffle = shuffle
        self.seed = seed
        self.rank = get_rank() if rank is None else rank
        self.world_size = get_world_size() if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} out of range for world size {self.world_size}")
        self.num_samples = shard_size(length, self.world_size, drop_last=True)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Selects the permutation of `epoch`."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        return iter(take_shard(order, self.rank, self.world_size, drop_last=True))


class DataContainer:
    """The run's datasets by name (`train` for training, others for callbacks).

    Items are `dict[str, Tensor]`; keys starting with `__meta` never reach the model.
    """

    def __init__(
        self,
        datasets: Mapping[str, Dataset[Any]],
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool | None = None,
    ) -> None:
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0 (got {num_workers})")
        for key, dataset in datasets.items():
            check_map_style(key, dataset)
        self.datasets = dict(datasets)
        self.num_workers = num_workers
        self.seed = seed
        self.pin_memory = pin_memory
        """True / False, or None: pin when training on CUDA."""

    def keys(self) -> list[str]:
        """Names of the datasets."""
        return list(self.datasets)

    def __contains__(self, key: object) -> bool:
        return key in self.datasets

    def get_dataset(self, key: str) -> Dataset[Any]:
        """The dataset called `key`; a missing one is an error naming those that exist."""
        try:
            return self.datasets[key]
        except KeyError:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise KeyError(f"no dataset {key!r} (datasets: {known})") from None

    def get_main_sampler(
        self, train_dataset: Dataset[Any], shuffle: bool = True, seed: int | None = None
    ) -> ShardedEpochSampler:
        """The training sampler: shuffled per epoch with the container's seed, sharded."""
        return ShardedEpochSampler(
            length=len(train_dataset),  # type: ignore[arg-type]
            shuffle=shuffle,
            seed=self.seed if seed is None else seed,
        )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.datasets.items())  # type: ignore[arg-type]
        return f"DataContainer({sizes})"


def check_map_style(key: str, dataset: object) -> None:
    """Raises a ValueError naming the dataset unless it is map-style (`__len__` and
    `__getitem__`): the run shuffles, shards and interleaves its samples by index, which
    an IterableDataset (or one without a length) does not allow."""
    if isinstance(dataset, IterableDataset) or not (
        hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")
    ):
        raise ValueError(
            f"dataset '{key}' ({type(dataset).__name__}) is not a map-style dataset: noether "
            "reads samples by index (shuffled, sharded over ranks, interleaved with "
            "evaluations), so a dataset needs __len__ and __getitem__ (an IterableDataset "
            "cannot be read that way)"
        )


def per_rank_batches(length: int, batch_size: int) -> int:
    """Batches of a callback's dataset on one rank (its padded shard, see `sharding`)."""
    return math.ceil(shard_size(length, get_world_size()) / batch_size)
