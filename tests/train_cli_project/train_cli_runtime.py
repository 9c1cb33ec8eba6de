"""Runtime classes of the end-to-end project: a dataset, a model and a trainer."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset
from train_cli_configs import LinearModelConfig, RegressionDatasetConfig

from noether.core.models import ModelBase
from noether.core.trainer.base import BaseTrainer


class RegressionDataset(Dataset[dict[str, torch.Tensor]]):
    """Fixed random inputs (seeded by the config, not the run) and a linear target."""

    def __init__(self, config: RegressionDatasetConfig) -> None:
        generator = torch.Generator().manual_seed(1234)
        self.x = torch.randn(config.size, config.features, generator=generator)
        weights = torch.linspace(-1.0, 1.0, config.features)
        self.y = (self.x @ weights + 0.5).unsqueeze(-1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index], "__meta_index": torch.tensor(index)}


class LinearModel(ModelBase):
    """y = Wx + b."""

    def __init__(self, model_config: LinearModelConfig) -> None:
        super().__init__(model_config)
        self.layer = torch.nn.Linear(model_config.features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class RegressionTrainer(BaseTrainer):
    """Only `loss_compute`, as in the seed's docstring."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return {"mse": torch.nn.functional.mse_loss(forward_output, targets["y"])}
