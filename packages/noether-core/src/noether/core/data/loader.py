"""The run's DataLoader: torch's, with a lean iterator where no worker process runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, default_collate
from torch.utils.data._utils.fetch import _MapDatasetFetcher
from torch.utils.data._utils.pin_memory import pin_memory


class RunDataLoader(DataLoader[Any]):
    """A DataLoader that fetches batches in this process without torch's per-batch bookkeeping.

    Without workers, torch's iterator still wraps each batch in a profiler record and counts
    it (bench: `tools/bench/loop_overhead.py`). Here each batch goes straight through torch's
    own fetcher (the dataset's `__getitems__` where it has one, then the collate) and is
    pinned when `pin_memory` is set and CUDA is present; torch's `default_collate` becomes
    `collate_tensor_dicts`. With workers, or without a batch sampler, torch's own iterator
    runs.
    """

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        if (
            self.num_workers > 0
            or self.batch_sampler is None
            or isinstance(self.dataset, IterableDataset)
        ):
            return super().__iter__()
        collate = self.collate_fn
        if collate is default_collate:
            collate = collate_tensor_dicts
        fetcher = _MapDatasetFetcher(self.dataset, True, collate, self.drop_last)
        batches = map(fetcher.fetch, self.batch_sampler)
        if self.pin_memory and torch.cuda.is_available():
            return map(pin_memory, batches)
        return batches


def collate_tensor_dicts(items: list[Any]) -> Any:
    """`default_collate` for noether's items, dicts of dense tensors, without its type dispatch
    per value (bench: `tools/bench/loop_overhead.py`); any other batch, and any error, is left
    to `default_collate`."""
    first = items[0]
    if type(first) is dict and all(
        type(value) is Tensor and value.layout is torch.strided for value in first.values()
    ):
        try:
            return {key: torch.stack([item[key] for item in items]) for key in first}
        except (TypeError, KeyError, RuntimeError):
            pass  # default_collate's own handling or error message
    return default_collate(items)
