"""Datasets of a run and the interleaving DataLoader."""

from noether.core.data.container import DataContainer, ShardedEpochSampler
from noether.core.data.interleaved import InterleavedBatchSampler, MultiDataset

__all__ = ["DataContainer", "InterleavedBatchSampler", "MultiDataset", "ShardedEpochSampler"]
