"""RunDataLoader yields exactly what torch's DataLoader yields, with or without workers; its
collate of tensor dicts equals default_collate."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, default_collate
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

from noether.core.data.batch_items import GetItemsError, UnstackableItemsError
from noether.core.data.interleaved import MultiDataset
from noether.core.data.loader import (
    RunDataLoader,
    collate_items,
    collate_tensor_dicts,
    usable_cpus,
)

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


def _dense_items():
    generator = torch.Generator().manual_seed(0)
    return [{"x": torch.randn(3, 2, generator=generator), "n": torch.tensor(i)} for i in range(4)]


def test_too_many_workers_are_warned_about_once_naming_num_workers(caplog):
    workers = usable_cpus() + 1
    loader = RunDataLoader(Items(), batch_sampler=BATCHES, num_workers=workers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(list(loader)) == len(list(loader)) == 3
    assert not [w for w in caught if "worker" in str(w.message)]  # torch's, twice
    messages = [r.getMessage() for r in caplog.records if "num_workers" in r.getMessage()]
    assert messages == [
        f"num_workers is {workers}, more than the {usable_cpus()} CPUs this process may use: "
        "the data workers compete for them (loading may slow down or freeze); lower num_workers"
    ]


def test_collate_tensor_dicts_equals_default_collate():
    items = _dense_items()
    got, expected = collate_tensor_dicts(items), default_collate(items)
    assert list(got) == list(expected) == ["x", "n"]
    for key in expected:
        assert got[key].dtype == expected[key].dtype
        assert torch.equal(got[key], expected[key])


@pytest.mark.parametrize(
    "items",
    [
        [{"x": torch.ones(2), "label": 1}, {"x": torch.zeros(2), "label": 0}],  # a non-tensor
        [torch.ones(2), torch.zeros(2)],  # not dicts
    ],
)
def test_other_batches_are_collated_by_default_collate(items):
    try:
        expected = default_collate(items)
    except Exception as error:
        with pytest.raises(type(error)):
            collate_tensor_dicts(items)
        return
    got = collate_tensor_dicts(items)
    if isinstance(expected, dict):
        assert all(torch.equal(got[key], expected[key]) for key in expected)
    else:
        assert torch.equal(got, expected)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"x": torch.ones(2)}, {"x": torch.ones(3)}], "index 1 has shape [3] at 'x', the one"),
        ([{"x": torch.ones(2)}, {"x": 3}], "index 1 has an int at 'x', the one at index 0"),
        ([{"a": {"b": torch.ones(1)}}, {"a": {}}], "index 1 has no key 'a.b' (the one at index 0"),
        # torch keeps the first item's keys: the batch would lack 'a.b' without a word
        (
            [{"a": {}}, {"a": {"b": torch.ones(1)}}],
            "index 1 has a key 'a.b' (the one at index 0 has no keys)",
        ),
    ],
)
def test_items_that_do_not_stack_name_the_item_and_key(items, message):
    with pytest.raises(UnstackableItemsError, match=re.escape(message)):
        collate_tensor_dicts(items)


def test_sparse_tensors_are_named_with_what_to_return_instead():
    """torch's own message asks for a custom collate_fn, which a noether config has none of."""
    items = [{"x": torch.eye(2)}, {"x": torch.eye(2).to_sparse()}]
    message = "the item at index 1 has a sparse_coo tensor at 'x'; batches stack dense tensors"
    with pytest.raises(UnstackableItemsError, match=re.escape(message)):
        collate_tensor_dicts(items)


def test_in_process_iteration_collates_with_collate_tensor_dicts(monkeypatch):
    seen = []

    def recording(items):
        seen.append(len(items))
        return default_collate(items)

    monkeypatch.setattr("noether.core.data.loader.collate_tensor_dicts", recording)
    assert len(list(RunDataLoader(Items(), batch_sampler=BATCHES))) == 3
    assert seen == [2, 3, 1]


class Uneven(Items):
    """Item 5 lacks "y"; item 4's "y" is None; item 2 has a longer "x" (a user's dataset
    bug)."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        if index == 5:
            del item["y"]
        if index == 4:
            item["y"] = None  # type: ignore[assignment]
        if index == 2:
            item["x"] = torch.zeros(3)
        if index == 3:
            item["x"] = item["x"].double()
        return item


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([0, 5], "dataset 'val': the item at index 5 has no key 'y' (the one at index 0 has x, y)"),
        # first in its batch, the item without 'y' made a batch without 'y'
        (
            [5, 0],
            "dataset 'val': the item at index 0 has a key 'y' (the one at index 5 has only x)",
        ),
        ([1, 2], "dataset 'val': the item at index 2 has shape [3] at 'x', the one at index 1 [2]"),
        # torch's own error: "default_collate: batch must contain tensors, ...; found NoneType"
        ([0, 4], "dataset 'val': the item at index 4 has None at 'y'; an item's values are"),
        # stacked without a check, the batch was float64 in process and float32 in workers
        (
            [1, 3],
            "dataset 'val': the item at index 3 has dtype float64 at 'x', the one at index 1 "
            "float32",
        ),
    ],
)
@pytest.mark.parametrize("workers", [0, 1])
def test_items_that_do_not_stack_are_named_by_dataset_index_and_key(batch, message, workers):
    """In a worker, torch's own error for the shapes is "Trying to resize storage..."."""
    data = MultiDataset([Items(), Uneven()], ["train", "val"])
    batches = [[6 + i for i in batch]]
    loader = RunDataLoader(
        data, batch_sampler=batches, num_workers=workers, collate_fn=collate_items
    )
    with pytest.raises(UnstackableItemsError, match=re.escape(message)):
        list(loader)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")
def test_nested_tensors_are_named_with_what_to_return_instead():
    nested = torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])
    message = "index 0 has a nested tensor at 'x'; batches stack dense tensors only: return it"
    with pytest.raises(UnstackableItemsError, match=re.escape(message)):
        collate_tensor_dicts([{"x": nested}, {"x": nested}])


class Stacking(Items):
    """A `__getitems__` that returns the batch already stacked (a dict), not its items."""

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return default_collate([self[i] for i in indices])


def test_a_getitems_that_returns_no_list_of_items_is_named():
    loader = RunDataLoader(MultiDataset([Stacking()], ["train"]), batch_sampler=BATCHES)
    message = "dataset 'train': Stacking.__getitems__ (" + __file__
    with pytest.raises(GetItemsError, match=re.escape(message)) as error:
        list(loader)
    assert "returned a dict (keys x, y) for 2 indices" in str(error.value)


class Corrupt(Items):
    """Item 4 cannot be read; with `batched`, neither can a batch that holds it."""

    def __init__(self, batched: bool) -> None:
        super().__init__()
        if batched:
            self.__getitems__ = self.read_batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index == 4:
            raise OSError("truncated file")
        return super().__getitem__(index)

    def read_batch(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        return [self[i] for i in indices]


@pytest.mark.parametrize(
    ("batched", "note"),
    [
        (False, "while reading dataset 'val' at index 4"),
        (True, "while reading dataset 'val' with __getitems__ at indices [3, 4]"),
    ],
)
@pytest.mark.parametrize("workers", [0, 1])
def test_an_error_reading_an_item_names_the_dataset_and_index(batched, note, workers):
    """The user's own error stays (its type and message); a note names what was read, also
    in the text that torch carries over from a worker."""
    data = MultiDataset([Items(), Corrupt(batched)], ["train", "val"])
    loader = RunDataLoader(data, batch_sampler=[[6 + 3, 6 + 4]], num_workers=workers)
    with pytest.raises(OSError, match="truncated file") as error:
        list(loader)
    if workers:
        assert str(error.value).rstrip().endswith(note)
    else:
        assert error.value.__notes__ == [note]
