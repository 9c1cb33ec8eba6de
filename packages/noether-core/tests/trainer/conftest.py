"""Shared pieces of the loop tests: a tiny linear model, a regression dataset, a tracker."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from noether.config import BaseTrainerConfig, CallbackConfig, ModelConfig
from noether.config.schemas.optimizer import SGDConfig
from noether.core.data.container import DataContainer
from noether.core.models.base import ModelBase
from noether.core.runs import PathProvider
from noether.core.trainer.base import BaseTrainer

torch.set_num_threads(1)


class LoopTestModelConfig(ModelConfig):
    """Linear regression model of the loop tests."""

    kind: str = "core_loop_test_linear"
    in_dim: int = 4


class LinearModel(ModelBase):
    """y = W x + b."""

    def __init__(self, model_config: LoopTestModelConfig) -> None:
        super().__init__(model_config)
        self.linear = torch.nn.Linear(model_config.in_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class LoopTestTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Trainer config of the loop tests."""

    kind: str = "core_loop_test_trainer"


class MseTrainer(BaseTrainer):
    """The seed's docstring trainer: only loss_compute."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return torch.nn.functional.mse_loss(forward_output, targets["y"])


class RegressionDataset(Dataset[dict[str, torch.Tensor]]):
    """Items {x, y} with y = x @ w + 0.5 (+ optional extra keys)."""

    def __init__(self, length: int = 64, seed: int = 0, extra: bool = False) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(length, 4, generator=generator)
        w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        self.y = self.x @ w + 0.5
        self.extra = extra

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"x": self.x[index], "y": self.y[index], "__meta_index": torch.tensor(index)}
        if self.extra:
            item["unused"] = torch.zeros(1)
        return item


class RecordingTracker:
    """A tracker that keeps rows in memory (the real ones are tested elsewhere)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.summaries: dict[str, float] = {}

    def start(self, path_provider: Any, config: dict[str, Any]) -> None:
        pass

    def log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self.rows.append({**metrics, "_update": update, "_epoch": epoch, "_sample": sample})

    def summary(self, metrics: dict[str, float]) -> None:
        self.summaries.update(metrics)

    def close(self) -> None:
        pass


def make_config(**overrides: Any) -> LoopTestTrainerConfig:
    values: dict[str, Any] = {
        "effective_batch_size": 8,
        "forward_properties": ["x"],
        "target_properties": ["y"],
        "add_default_callbacks": False,
    }
    values.update(overrides)
    if not any(k in values for k in ("max_epochs", "max_updates", "max_samples")):
        values["max_epochs"] = 2
    return LoopTestTrainerConfig(**values)


def make_model(lr: float = 0.05, seed: int = 0, **optimizer: Any) -> LinearModel:
    torch.manual_seed(seed)
    return LinearModel(LoopTestModelConfig(optimizer=SGDConfig(kind="sgd", lr=lr, **optimizer)))


@pytest.fixture
def path_provider(tmp_path: Any) -> PathProvider:
    return PathProvider(tmp_path / "runs", "loop_test")


@pytest.fixture
def tracker() -> RecordingTracker:
    return RecordingTracker()


def make_trainer(
    config: LoopTestTrainerConfig,
    datasets: dict[str, Dataset[Any]] | None = None,
    tracker: Any = None,
    path_provider: Any = None,
    trainer_cls: type[BaseTrainer] = MseTrainer,
    **container: Any,
) -> BaseTrainer:
    data = DataContainer(datasets or {"train": RegressionDataset()}, **container)
    return trainer_cls(config, data, "cpu", tracker or RecordingTracker(), path_provider)


@pytest.fixture
def kit() -> Any:
    """This module: tests reach the helpers through it (conftest cannot be imported)."""
    import sys

    return sys.modules[__name__]
