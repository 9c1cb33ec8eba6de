"""Helpers of the default-callback tests: a real context around a tiny model."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from noether.config import BaseTrainerConfig, CallbackConfig, ModelConfig
from noether.config.schemas.optimizer import SGDConfig
from noether.core.callbacks.base import CallbackContext
from noether.core.counters import UpdateCounter
from noether.core.data.container import DataContainer
from noether.core.models.base import ModelBase
from noether.core.trackers.base import TrackerBase
from noether.core.trackers.log_writer import LogWriter
from noether.core.trainer.base import BaseTrainer

torch.set_num_threads(1)


class DefaultsTestModelConfig(ModelConfig):
    """Two linear layers, the second optionally frozen by the test."""

    kind: str = "core_defaults_test_mlp"
    hidden: int = 3


class TwoLayerModel(ModelBase):
    """x (4) -> hidden -> 1."""

    def __init__(self, model_config: DefaultsTestModelConfig) -> None:
        super().__init__(model_config)
        self.first = torch.nn.Linear(4, model_config.hidden)
        self.second = torch.nn.Linear(model_config.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.tanh(self.first(x)))


class DefaultsTestTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Trainer config of the default-callback tests."""

    kind: str = "core_defaults_test_trainer"


class RecordingMseTrainer(BaseTrainer):
    """MSE of `y`, remembering every micro-batch's loss value for hand computations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.step_losses: list[float] = []

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        loss = torch.nn.functional.mse_loss(forward_output, targets["y"])
        self.step_losses.append(loss.item())
        return loss


class PairDataset(Dataset[dict[str, torch.Tensor]]):
    """Items {x, y} of a fixed random regression problem."""

    def __init__(self, length: int = 32, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(length, 4, generator=generator)
        self.y = self.x.sum(dim=1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}


class RecordingTracker(TrackerBase):
    """A real TrackerBase that keeps rows and summaries in memory."""

    def __init__(self) -> None:
        super().__init__(config=None)  # type: ignore[arg-type]
        self.rows: list[dict[str, Any]] = []
        self.summaries: dict[str, float] = {}
        self.is_active = True

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self.rows.append({**metrics, "_update": update, "_epoch": epoch, "_sample": sample})

    def _summary(self, metrics: dict[str, float]) -> None:
        self.summaries.update(metrics)

    def rows_with(self, key: str) -> dict[int, float]:
        """update -> value of every row holding `key`."""
        return {row["_update"]: row[key] for row in self.rows if key in row}


def make_model(seed: int = 0, lr: float = 0.1, **optimizer: Any) -> TwoLayerModel:
    torch.manual_seed(seed)
    return TwoLayerModel(DefaultsTestModelConfig(optimizer=SGDConfig(lr=lr, **optimizer)))


def make_trainer_config(**overrides: Any) -> DefaultsTestTrainerConfig:
    values: dict[str, Any] = {
        "effective_batch_size": 4,
        "forward_properties": ["x"],
        "target_properties": ["y"],
    }
    values.update(overrides)
    if not any(k in values for k in ("max_epochs", "max_updates", "max_samples")):
        values["max_updates"] = 8
    return DefaultsTestTrainerConfig(**values)


class Harness:
    """A real CallbackContext (counter, LogWriter, tracker, data) without a trainer loop.

    `step(...)` plays what the loop does around one update, so a callback's hooks run in
    the loop's order: accumulation tracking, counter, update tracking, periodic, flush.
    """

    def __init__(
        self,
        model: Any = None,
        updates_per_epoch: int = 4,
        effective_batch_size: int = 4,
        max_updates: int = 100,
        trainer: Any = None,
        datasets: dict[str, Dataset[Any]] | None = None,
    ) -> None:
        self.tracker = RecordingTracker()
        self.log_writer = LogWriter(self.tracker)
        self.counter = UpdateCounter(
            updates_per_epoch=updates_per_epoch,
            effective_batch_size=effective_batch_size,
            max_updates=max_updates,
        )
        self.context = CallbackContext(
            trainer=trainer,
            model=model,
            data_container=DataContainer(datasets or {"train": PairDataset()}),
            log_writer=self.log_writer,
            tracker=self.tracker,
            path_provider=None,
            update_counter=self.counter,
            checkpoint_writer=None,
            device=torch.device("cpu"),
            logger=logging.getLogger("defaults-test"),
        )

    def step(
        self,
        callbacks: Any,
        losses: list[dict[str, torch.Tensor]] | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        """One update for one callback or a list of them (each hook in list order)."""
        group = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        steps = losses or [{"total": torch.tensor(0.0)}]
        for index, step_losses in enumerate(steps):
            for callback in group:
                callback.track_after_accumulation_step(step_losses, {}, index, len(steps))
        self.counter.add_update()
        for callback in group:
            callback.track_after_update_step(steps[-1], timings or {})
        for callback in group:
            if callback.should_run(end_of_epoch=False):
                callback.periodic_callback()
        if self.counter.update % self.counter.updates_per_epoch == 0:
            self.counter.add_epoch()
            for callback in group:
                if callback.should_run(end_of_epoch=True):
                    callback.periodic_callback()
        self.log_writer.flush(self.counter)


@pytest.fixture
def dkit() -> Any:
    """This module (conftest files cannot be imported by name)."""
    return sys.modules[__name__]
