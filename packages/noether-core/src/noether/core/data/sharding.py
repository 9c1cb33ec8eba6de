"""How a dataset is split over ranks: the one rule the samplers, callbacks and reductions share.

Rank r of W takes the dataset positions r, r + W, r + 2W, ... (interleaved, so that the union
of all ranks' i-th batches is the i-th batch one process with W times the batch size sees).
Two ways to make the shards equal in size:

- `drop_last=True` (training): the tail that does not fill a row of W is cut; every shard has
  `length // W` items.
- `drop_last=False` (evaluation): positions past the end wrap around to the start; every
  shard has `ceil(length / W)` items, its real samples first and the padding (if any) last.
  `real_shard_size` says where the padding starts and `unshard` undoes both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch

T = TypeVar("T")


def _check(length: int, rank: int, world_size: int) -> None:
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1 (got {world_size})")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} out of range for world size {world_size}")
    if length < 0:
        raise ValueError(f"length must be >= 0 (got {length})")


def shard_size(length: int, world_size: int, *, drop_last: bool = False) -> int:
    """Items in every rank's shard of `length` items.

    Args:
        length: items in the dataset (or in one epoch's order).
        world_size: number of ranks.
        drop_last: cut the tail (`length // W`) instead of padding it (`ceil(length / W)`).
    """
    _check(length, 0, world_size)
    if drop_last:
        return length // world_size
    return -(-length // world_size)


def shard_indices(length: int, rank: int, world_size: int, *, drop_last: bool = False) -> list[int]:
    """The positions (in `range(length)`) that `rank` takes, in order.

    Padding (`drop_last=False`) wraps around, so the last entries of a shard may repeat the
    first positions of the dataset; `real_shard_size` counts the entries that do not.
    """
    return take_shard(range(length), rank, world_size, drop_last=drop_last)


def take_shard(
    items: Sequence[T], rank: int, world_size: int, *, drop_last: bool = False
) -> list[T]:
    """The items at `rank`'s positions of `items` (`shard_indices(len(items), ...)`).

    A slice, not a loop over positions: the training sampler shards every epoch's order
    (`tools/bench/loop_overhead.py`, workload A).
    """
    length = len(items)
    _check(length, rank, world_size)
    size = shard_size(length, world_size, drop_last=drop_last)
    shard = list(items[rank : rank + size * world_size : world_size])
    shard += [items[(rank + i * world_size) % length] for i in range(len(shard), size)]
    return shard


def real_shard_size(length: int, rank: int, world_size: int) -> int:
    """How many entries of `rank`'s padded shard are real samples (they come first)."""
    _check(length, rank, world_size)
    return max(0, -(-(length - rank) // world_size))


def unshard(gathered: Sequence[torch.Tensor], length: int) -> torch.Tensor:
    """All ranks' padded shards (rank order, samples in dim 0) back in dataset order.

    The inverse of `shard_indices(..., drop_last=False)` over all ranks: the result has
    exactly `length` rows, the padding dropped.
    """
    if len(gathered) == 1:
        return gathered[0][:length]
    stacked = torch.stack(list(gathered), dim=1)  # row i holds position i of every rank
    return stacked.reshape(-1, *gathered[0].shape[1:])[:length]
