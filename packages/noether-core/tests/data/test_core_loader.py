"""RunDataLoader yields exactly what torch's DataLoader yields, with or without workers."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

from noether.core.data.loader import RunDataLoader

BATCHES = [[3, 1], [0, 5, 2], [4]]


class Items(Dataset[dict[str, torch.Tensor]]):
    """Items `{"x": [i, i], "y": i}`; counts the indices fetched one by one."""

    def __init__(self) -> None:
        self.single = 0

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        self.single += 1
        return {"x": torch.full((2,), float(index)), "y": torch.tensor(index)}


class BatchedItems(Items):
    """Fetches whole batches, as a dataset with `__getitems__` does."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        self.batches.append(list(indices))
        return [{"x": torch.full((2,), float(i)), "y": torch.tensor(i)} for i in indices]


def _as_lists(batches):
    return [{key: value.tolist() for key, value in batch.items()} for batch in batches]


@pytest.mark.parametrize("dataset_type", [Items, BatchedItems])
def test_in_process_batches_equal_torchs(dataset_type):
    expected = _as_lists(DataLoader(dataset_type(), batch_sampler=BATCHES))
    dataset = dataset_type()
    loader = RunDataLoader(dataset, batch_sampler=BATCHES)
    got = _as_lists(loader)
    assert got == expected
    assert got[0] == {"x": [[3.0, 3.0], [1.0, 1.0]], "y": [3, 1]}
    assert _as_lists(loader) == expected  # a second pass starts again
    if dataset_type is BatchedItems:
        assert dataset.batches == BATCHES * 2
        assert dataset.single == 0


def test_collate_fn_is_used_in_process():
    def first_ids(items):
        return [int(item["y"]) for item in items]

    loader = RunDataLoader(Items(), batch_sampler=BATCHES, collate_fn=first_ids)
    assert list(loader) == BATCHES


def test_workers_use_torchs_iterator_with_the_same_batches():
    loader = RunDataLoader(BatchedItems(), batch_sampler=BATCHES, num_workers=1)
    assert isinstance(iter(loader), _MultiProcessingDataLoaderIter)
    assert _as_lists(loader) == _as_lists(DataLoader(Items(), batch_sampler=BATCHES))
