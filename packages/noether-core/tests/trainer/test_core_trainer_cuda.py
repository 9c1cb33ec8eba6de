"""CUDA paths of the loop (run where a GPU exists): float16 with a gradient scaler, pinned
memory and device transfer."""

from __future__ import annotations

import pytest
import torch

from noether.core.data.container import DataContainer
from noether.core.testing import (
    MseTrainer,
    RecordingTracker,
    RegressionDataset,
    make_config,
    make_model,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_float16_on_cuda_trains_with_a_grad_scaler():
    data = RegressionDataset(64)
    model = make_model(lr=0.05)
    trainer = MseTrainer(
        make_config(max_epochs=10, precision="float16"),
        DataContainer({"train": data}),
        "cuda",
        RecordingTracker(),
        None,
    )
    assert trainer.precision is torch.float16
    assert trainer.grad_scaler is not None
    loader = trainer.get_data_loader([], 8)
    assert loader.pin_memory
    batch = next(iter(loader))  # in this process (no workers): RunDataLoader pins it
    assert all(value.is_pinned() for value in batch.values())
    trainer.train(model)
    assert next(model.parameters()).is_cuda
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(model(data.x.cuda()), data.y.cuda()).item()
    assert loss < 1.0
    assert "grad_scaler" in trainer.state_dict()
