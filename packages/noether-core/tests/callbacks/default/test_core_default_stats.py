"""Dataset sizes and parameter counts, once before training."""

from __future__ import annotations

import logging

from noether.core.callbacks.default.dataset_stats import DatasetStatsCallback
from noether.core.callbacks.default.param_count import ParamCountCallback, count_parameters
from noether.core.testing import CallbackHarness, PairDataset, TwoLayerModel, TwoLayerModelConfig


def test_every_dataset_size_is_logged_and_summarised(caplog):
    h = CallbackHarness(datasets={"train": PairDataset(32), "val": PairDataset(7)})
    caplog.set_level(logging.INFO, logger="DatasetStatsCallback")
    DatasetStatsCallback(None, h.context).before_training()
    assert h.tracker.summaries == {"dataset/train/size": 32.0, "dataset/val/size": 7.0}
    messages = [r.getMessage() for r in caplog.records if r.name == "DatasetStatsCallback"]
    assert messages == [
        "dataset 'train': 32 samples (PairDataset)",
        "dataset 'val': 7 samples (PairDataset)",
    ]


def test_trainable_and_frozen_parameters_are_counted(caplog):
    model = TwoLayerModel(TwoLayerModelConfig(hidden=5))
    model.second.requires_grad_(False)
    h = CallbackHarness(model=model)
    caplog.set_level(logging.INFO, logger="ParamCountCallback")
    ParamCountCallback(None, h.context).before_training()
    assert h.tracker.summaries == {
        "model/params/trainable": 4 * 5 + 5,
        "model/params/frozen": 5 + 1,
    }
    assert "25 trainable and 6 frozen parameters" in caplog.records[-1].getMessage()


def test_shared_parameters_are_counted_once():
    model = TwoLayerModel(TwoLayerModelConfig(hidden=4))
    model.second.weight = model.first.weight  # a tied parameter reached twice
    assert count_parameters(model) == (16 + 4 + 1, 0)
