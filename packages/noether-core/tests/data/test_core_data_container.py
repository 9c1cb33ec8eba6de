"""DataContainer lookups and the seeded, sharded main sampler."""

from __future__ import annotations

import re

import pytest
import torch
from torch.utils.data import TensorDataset

from noether.core.data.container import DataContainer, ShardedEpochSampler
from noether.core.testing import RegressionDataset


def test_missing_dataset_names_the_existing_ones():
    container = DataContainer({"train": TensorDataset(torch.zeros(3)), "val": []})
    assert container.keys() == ["train", "val"]
    assert "val" in container
    with pytest.raises(KeyError, match=r"no dataset 'test' \(datasets: train, val\)"):
        container.get_dataset("test")


def test_shuffling_is_seeded_per_epoch():
    first = ShardedEpochSampler(20, seed=3, rank=0, world_size=1)
    second = ShardedEpochSampler(20, seed=3, rank=0, world_size=1)
    epoch0 = list(first)
    assert epoch0 == list(second)
    assert sorted(epoch0) == list(range(20))
    first.set_epoch(1)
    assert list(first) != epoch0
    assert list(ShardedEpochSampler(20, seed=4, rank=0, world_size=1)) != epoch0


def test_ranks_take_interleaved_disjoint_shards_of_the_same_permutation():
    full = list(ShardedEpochSampler(21, seed=0, rank=0, world_size=1))
    shards = [list(ShardedEpochSampler(21, seed=0, rank=r, world_size=3)) for r in range(3)]
    assert [len(s) for s in shards] == [7, 7, 7]
    for rank, shard in enumerate(shards):
        assert shard == full[rank::3]
    # with 2 ranks the tail that does not divide is dropped
    halves = [list(ShardedEpochSampler(21, seed=0, rank=r, world_size=2)) for r in range(2)]
    assert sorted(halves[0] + halves[1]) == sorted(full[:20])


def test_unshuffled_order_and_bad_rank():
    assert list(ShardedEpochSampler(5, shuffle=False, rank=1, world_size=2)) == [1, 3]
    with pytest.raises(ValueError, match="rank 2 out of range"):
        ShardedEpochSampler(5, rank=2, world_size=2)


class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield {"x": torch.zeros(2)}


@pytest.mark.parametrize("dataset", [Stream(), object()])
def test_a_dataset_that_is_not_map_style_is_named_when_the_run_is_built(dataset):
    """It failed later as a constructor that did not fit the trainer's signature."""
    message = f"dataset 'val' ({type(dataset).__name__}) is not a map-style dataset"
    with pytest.raises(ValueError, match=re.escape(message)):
        DataContainer({"train": RegressionDataset(8), "val": dataset})
