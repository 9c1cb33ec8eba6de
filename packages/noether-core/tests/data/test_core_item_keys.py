"""`check_train_item`: one item of the train dataset against the keys the trainer's config
names, before the model is built; it reads only those keys and changes no random state."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from noether.core.data.container import DataContainer
from noether.core.data.item_keys import MissingItemKeyError, check_train_item
from noether.core.testing.datasets import RegressionDataset
from noether.core.testing.trainers import make_config


class AugmentedDataset(RegressionDataset):
    """Draws from every global generator when read, as random augmentation does."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        random.random()
        np.random.rand()
        return {**super().__getitem__(index), "noise": torch.randn(1)}


class BrokenDataset(RegressionDataset):
    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        raise OSError("file sample_0.npz is truncated")


def container(dataset: Dataset[Any]) -> DataContainer:
    return DataContainer({"train": dataset})


def test_a_present_key_set_is_checked_and_counted() -> None:
    assert check_train_item(make_config(), container(RegressionDataset())) == 2


def test_a_missing_target_names_the_config_key_and_the_item_keys() -> None:
    config = make_config(target_properties=["y", "pressure_target"])
    with pytest.raises(MissingItemKeyError) as caught:
        check_train_item(config, container(RegressionDataset()))
    assert caught.value.key_path == "trainer.target_properties"
    assert str(caught.value) == (
        "trainer.target_properties: item 0 of dataset 'train' (RegressionDataset) has no "
        "pressure_target; its keys: x, y, __meta_index"
    )


def test_reading_the_item_leaves_every_random_state_as_it_was() -> None:
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    check_train_item(make_config(), container(AugmentedDataset()))
    after = (torch.rand(1).item(), random.random(), np.random.rand())
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    assert after == (torch.rand(1).item(), random.random(), np.random.rand())


def test_an_evaluation_only_run_reads_no_item() -> None:
    config = make_config(max_epochs=0, target_properties=["missing"])
    assert check_train_item(config, container(BrokenDataset())) == 0


def test_a_dataset_that_fails_to_read_gets_a_note_naming_the_item() -> None:
    with pytest.raises(OSError, match="truncated") as caught:
        check_train_item(make_config(), container(BrokenDataset()))
    assert "while reading dataset 'train' at index 0" in caught.value.__notes__
