"""Micro-batch size and accumulation steps; splitting batches into inputs and targets."""

from __future__ import annotations

import warnings

import pytest
import torch

from noether.core.trainer.batching import BatchSplitter, micro_batch_plan


@pytest.mark.parametrize(
    ("args", "sizes"),
    [
        ((64, None, 1, False), (64,)),
        ((64, 16, 1, False), (16, 16, 16, 16)),
        ((64, 16, 2, False), (16, 16)),
        ((64, 64, 2, False), (32,)),
        ((64, 16, 1, True), (64,)),
        ((12, 4, 2, False), (3, 3)),  # 6 per device with max 4: the fewest, as even as can be
        ((12, 8, 1, False), (6, 6)),
        ((7, 4, 1, False), (4, 3)),
        ((48, 32, 1, False), (24, 24)),
        ((10, 3, 1, False), (3, 3, 2, 2)),
    ],
)
def test_micro_batch_plan(args, sizes):
    plan = micro_batch_plan(*args)
    assert plan.sizes == sizes
    assert plan.accumulation_steps == len(sizes)
    assert plan.batch_size == args[0] // args[2]
    assert sum(plan.weights) == pytest.approx(1.0)


def test_effective_batch_size_must_divide_over_processes():
    with pytest.raises(ValueError, match=r"effective_batch_size \(10\).*processes \(4\)"):
        micro_batch_plan(10, None, 4)


def test_missing_target_key_names_it_and_the_batch_keys():
    splitter = BatchSplitter(["x"], ["pressure"])
    with pytest.raises(KeyError, match=r"target_properties \['pressure'\].*\['x', 'y'\]"):
        splitter.split({"x": torch.zeros(1), "y": torch.zeros(1)})


def test_extra_keys_are_logged_once_naming_the_config_keys_not_a_noether_line(caplog):
    splitter = BatchSplitter(["x"], ["y"])
    batch = {"x": torch.zeros(1), "y": torch.ones(1), "mask": torch.zeros(1)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            forward, targets = splitter.split(batch)
    assert caught == []  # a Python warning pointed at noether's own line
    (record,) = [r for r in caplog.records if "batch keys" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(
        "batch keys ['mask'] are in neither trainer.forward_properties ['x'] nor "
        "trainer.target_properties ['y'] and are not used"
    )
    assert list(forward) == ["x"]
    assert list(targets) == ["y"]


def test_without_forward_properties_every_non_target_key_goes_to_the_model():
    forward, targets = BatchSplitter([], ["y"]).split({"a": 1, "b": 2, "y": 3})
    assert forward == {"a": 1, "b": 2}
    assert targets == {"y": 3}
