"""Values of a batch that are not tensors (names, nested dicts, named tuples) pass the steps
that move and pin batches, as they pass a CPU run: off the CPU only tensors move."""

from __future__ import annotations

import logging
from collections import OrderedDict, namedtuple

import pytest
import torch

from noether.core.data.loader import pin_batch
from noether.core.trainer.loop import drop_metadata
from noether.core.trainer.step import TrainStep
from noether.core.trainer.types import TrainerResult

Pair = namedtuple("Pair", "a b")


def batch() -> dict[str, object]:
    nested = {"y": torch.ones(1), "pair": Pair(torch.zeros(1), "b")}
    return {"x": torch.ones(2), "name": ["rod 0", "rod 1"], "in": nested}


def test_a_step_off_the_cpu_moves_tensors_and_keeps_other_values():
    step = TrainStep(
        device=torch.device("meta"),  # any device but the CPU moves batches
        precision=torch.float32,
        micro_batch_weights=(0.5, 0.5),
        skip_nonfinite=None,
        logger=logging.getLogger(__name__),
        trainer_name="Trainer",
    )
    seen = {}

    def train_step(got, model):
        seen.update(got)
        return TrainerResult(torch.zeros((), device="meta"))

    step.run(train_step, batch(), None, None, steps=2, index=0)  # type: ignore[arg-type]
    assert seen["x"].device.type == "meta" and seen["in"]["y"].device.type == "meta"
    assert seen["name"] == ["rod 0", "rod 1"]
    assert type(seen["in"]["pair"]) is Pair and seen["in"]["pair"].b == "b"
    assert seen["in"]["pair"].a.device.type == "meta"


def test_pinning_keeps_named_tuples_and_mapping_types():
    pinned = pin_batch({"pair": Pair("a", "b"), "ordered": OrderedDict(k="v"), "s": "x"})
    assert pinned == {"pair": Pair("a", "b"), "ordered": OrderedDict(k="v"), "s": "x"}
    assert type(pinned["pair"]) is Pair and type(pinned["ordered"]) is OrderedDict


def test_a_batch_that_is_no_dict_says_what_items_must_be():
    """Items that are tuples (a TensorDataset's) gave "'Tensor' object has no attribute
    'startswith'"."""
    with pytest.raises(TypeError, match=r"a batch is a list, not a dict: a dataset's __getitem__"):
        drop_metadata([torch.ones(2, 3), torch.zeros(2)])
    assert drop_metadata({"x": torch.ones(1), "__meta_id": [3]}).keys() == {"x"}
