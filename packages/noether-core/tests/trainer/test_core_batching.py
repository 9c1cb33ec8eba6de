"""Micro-batch size and accumulation steps; splitting batches into inputs and targets."""

from __future__ import annotations

import warnings

import pytest
import torch

from noether.core.trainer.batching import BatchSplitter, batch_size_and_accumulation


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((64, None, 1, False), (64, 1)),
        ((64, 16, 1, False), (16, 4)),
        ((64, 16, 2, False), (16, 2)),
        ((64, 64, 2, False), (32, 1)),
        ((64, 16, 1, True), (64, 1)),
        ((12, 4, 2, False), (3, 2)),  # 6 per device does not split into 4s: 2 steps of 3
    ],
)
def test_batch_size_and_accumulation(args, expected):
    assert batch_size_and_accumulation(*args) == expected


def test_effective_batch_size_must_divide_over_processes():
    with pytest.raises(ValueError, match=r"effective_batch_size \(10\).*processes \(4\)"):
        batch_size_and_accumulation(10, None, 4)


def test_missing_target_key_names_it_and_the_batch_keys():
    splitter = BatchSplitter(["x"], ["pressure"])
    with pytest.raises(KeyError, match=r"target_properties \['pressure'\].*\['x', 'y'\]"):
        splitter.split({"x": torch.zeros(1), "y": torch.zeros(1)})


def test_extra_keys_are_warned_about_once():
    splitter = BatchSplitter(["x"], ["y"])
    batch = {"x": torch.zeros(1), "y": torch.ones(1), "mask": torch.zeros(1)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            forward, targets = splitter.split(batch)
    assert [str(w.message) for w in caught] == [
        "batch keys ['mask'] are in neither forward_properties nor target_properties and "
        "are not used"
    ]
    assert list(forward) == ["x"]
    assert list(targets) == ["y"]


def test_without_forward_properties_every_non_target_key_goes_to_the_model():
    forward, targets = BatchSplitter([], ["y"]).split({"a": 1, "b": 2, "y": 3})
    assert forward == {"a": 1, "b": 2}
    assert targets == {"y": 3}
