"""Runtime classes of the seed-fidelity project, written against the public API only."""

from typing import Any

import torch
import torch.nn.functional as F
from seed_schemas import FieldsDatasetConfig, FieldsModelConfig
from torch.utils.data import Dataset

from noether.core import ModelBase
from noether.training.trainers import BaseTrainer, TrainerResult


class FieldsDataset(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, dataset_config: FieldsDatasetConfig) -> None:
        generator = torch.Generator().manual_seed(dataset_config.seed)
        self.x = torch.randn(dataset_config.size, 3, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = self.x[index]
        return {"x": x, "pressure_target": x.sum(dim=0, keepdim=True), "velocity_target": 2 * x[:2]}


class FieldsModel(ModelBase):
    def __init__(self, model_config: FieldsModelConfig) -> None:
        super().__init__(model_config)
        sizes = {"pressure": 1, "velocity": 2}
        self.heads = torch.nn.ModuleDict(
            {field: torch.nn.Linear(3, sizes[field]) for field in model_config.fields}
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {field: head(x) for field, head in self.heads.items()}


class DocstringTrainer(BaseTrainer):
    def __init__(self, trainer_config, **kwargs):
        super().__init__(trainer_config, **kwargs)

    def loss_compute(self, forward_output, targets):
        return F.mse_loss(forward_output["pressure"], targets["pressure_target"])


class NoneResultTrainer(BaseTrainer):
    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        raise AssertionError("train_step is overridden")

    def train_step(self, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> TrainerResult:
        loss = F.mse_loss(model(x=batch["x"])["pressure"], batch["pressure_target"])
        if self.config.form == "loss_only":
            return TrainerResult(loss)
        return TrainerResult(loss, None, None)


class NotAResultTrainer(BaseTrainer):
    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        raise AssertionError("train_step is overridden")

    def train_step(self, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> Any:
        return {"total": F.mse_loss(model(x=batch["x"])["pressure"], batch["pressure_target"])}


class PositionalTrainer(BaseTrainer):
    def __init__(self, trainer_config, *args):
        super().__init__(trainer_config, *args)

    def loss_compute(self, forward_output, targets):
        return F.mse_loss(forward_output["pressure"], targets["pressure_target"])
