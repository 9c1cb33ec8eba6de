"""The sharding rule: every sample on exactly one rank, equal shard sizes, `unshard` inverts."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from noether.core.data.sharding import (
    real_shard_size,
    shard_indices,
    shard_size,
    take_shard,
    unshard,
)

SIZES = [0, 1, 2, 3, 5, 7, 8, 16, 21, 100]
WORLD_SIZES = [1, 2, 3, 4, 8]


@pytest.mark.parametrize("world_size", WORLD_SIZES)
@pytest.mark.parametrize("length", SIZES)
def test_padded_shards_cover_every_sample_once_before_the_padding(
    length: int, world_size: int
) -> None:
    shards = [shard_indices(length, rank, world_size) for rank in range(world_size)]
    size = shard_size(length, world_size)
    assert all(len(shard) == size for shard in shards)
    assert size * world_size >= length > (size - 1) * world_size or length == 0
    real = [shard[: real_shard_size(length, rank, world_size)] for rank, shard in enumerate(shards)]
    assert Counter(i for shard in real for i in shard) == Counter(range(length))
    # what follows the real samples is padding (repeats of real positions), nothing else
    assert all(0 <= i < length for shard in shards for i in shard)
    assert sum(len(r) for r in real) == length


@pytest.mark.parametrize("world_size", WORLD_SIZES)
@pytest.mark.parametrize("length", SIZES)
def test_dropping_the_tail_covers_each_kept_sample_once(length: int, world_size: int) -> None:
    shards = [shard_indices(length, rank, world_size, drop_last=True) for rank in range(world_size)]
    size = shard_size(length, world_size, drop_last=True)
    assert all(len(shard) == size for shard in shards)
    kept = Counter(i for shard in shards for i in shard)
    assert kept == Counter(range(size * world_size))
    assert length - size * world_size < world_size


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("world_size", WORLD_SIZES)
@pytest.mark.parametrize("length", SIZES)
def test_taking_a_shard_of_a_sequence_takes_the_items_at_its_positions(
    length: int, world_size: int, drop_last: bool
) -> None:
    items = [f"item{i}" for i in range(length)]
    for rank in range(world_size):
        positions = shard_indices(length, rank, world_size, drop_last=drop_last)
        taken = take_shard(items, rank, world_size, drop_last=drop_last)
        assert taken == [items[position] for position in positions]


def test_ranks_interleave() -> None:
    assert shard_indices(7, 1, 3) == [1, 4, 0]  # 7 is padding, wrapped to 0
    assert real_shard_size(7, 1, 3) == 2
    assert shard_indices(7, 1, 3, drop_last=True) == [1, 4]
    assert shard_indices(2, 3, 4) == [1]  # more ranks than samples: all padding
    assert real_shard_size(2, 3, 4) == 0


@pytest.mark.parametrize("world_size", WORLD_SIZES)
@pytest.mark.parametrize("length", [1, 2, 5, 7, 21])
def test_unshard_restores_dataset_order(length: int, world_size: int) -> None:
    data = torch.arange(length * 2).reshape(length, 2)
    gathered = [data[shard_indices(length, rank, world_size)] for rank in range(world_size)]
    assert torch.equal(unshard(gathered, length), data)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rank 2 out of range for world size 2"):
        shard_indices(5, 2, 2)
    with pytest.raises(ValueError, match="world_size must be >= 1"):
        shard_size(5, 0)
    with pytest.raises(ValueError, match="length must be >= 0"):
        shard_size(-1, 2)
