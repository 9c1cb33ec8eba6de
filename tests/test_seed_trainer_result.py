"""The seed's TrainerResult and train_step contract through the Python API: optional fields,
and clear errors for what cannot be trained on."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from noether.config import BaseTrainerConfig, ModelConfig
from noether.config.schemas import SGDConfig
from noether.core import DataContainer, ModelBase
from noether.training.trainers import BaseTrainer, TrainerResult, TrainStepError


class Points(Dataset):
    def __init__(self) -> None:
        self.x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.x[index].sum(dim=0, keepdim=True)}


class Linear(ModelBase):
    def __init__(self, model_config: ModelConfig) -> None:
        super().__init__(model_config)
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def run(trainer_class: type[BaseTrainer]) -> BaseTrainer:
    config = BaseTrainerConfig(
        kind="my_trainer",
        max_updates=2,
        effective_batch_size=8,
        forward_properties=["x"],
        target_properties=["y"],
    )
    trainer = trainer_class(
        config,
        data_container=DataContainer({"train": Points()}),
        device="cpu",
        tracker=None,
        path_provider=None,
    )
    model = Linear(ModelConfig(kind="linear", optimizer=SGDConfig(kind="sgd", lr=0.01)))
    trainer.train(model)
    return trainer


def test_the_optional_fields_default_to_none():
    loss = torch.tensor(1.0)
    result = TrainerResult(loss)
    assert (result.losses_to_log, result.additional_outputs) == (None, None)
    assert TrainerResult(loss, None, None) == result


def test_a_total_loss_that_is_not_a_scalar_names_train_step():
    class PerSample(BaseTrainer):
        def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
            raise AssertionError("train_step is overridden")

        def train_step(self, batch: dict[str, torch.Tensor], model: Any) -> TrainerResult:
            return TrainerResult((model(x=batch["x"]) - batch["y"]) ** 2)

    with pytest.raises(TrainStepError) as caught:
        run(PerSample)
    assert str(caught.value) == (
        "PerSample.train_step returned a TrainerResult whose total_loss is a tensor of shape "
        "(8, 1); it must be a scalar tensor (reduce it, e.g. with .mean())"
    )


def test_a_loss_compute_entry_that_is_not_a_scalar_names_its_key():
    class Named(BaseTrainer):
        def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
            error = forward_output - targets["y"]
            return {"mse": (error**2).mean(), "abs": error.abs()}

    with pytest.raises(TrainStepError, match=r"loss 'abs' as a tensor of shape \(8, 1\)"):
        run(Named)


def test_a_train_step_returning_a_tuple_names_train_step():
    class Tuple(BaseTrainer):
        def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
            raise AssertionError("train_step is overridden")

        def train_step(self, batch: dict[str, torch.Tensor], model: Any) -> Any:
            loss = torch.nn.functional.mse_loss(model(x=batch["x"]), batch["y"])
            return loss, {"mse": loss}

    with pytest.raises(TrainStepError, match=r"^Tuple\.train_step returned a tuple; it must"):
        run(Tuple)
