"""Every name the seed cross-references imports, from where ported code expects it."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

import noether.config
import noether.core
from noether.config import BaseTrainerConfig, ModelConfig
from noether.config.schemas import SGDConfig
from noether.core import DataContainer, ModelBase, PeriodicCallback
from noether.training.trainers import BaseTrainer


def test_seed_cross_referenced_names_import():
    from noether.core.callbacks.base import CallBackBaseConfig
    from noether.core.checkpoint.initializers import InitializerBase as HomeInitializerBase
    from noether.core.initializers import InitializerBase, InitializerConfig
    from noether.core.schemas.lib import _RegistryBase
    from noether.core.trainer.update import NonFiniteLossError as HomeNonFiniteLossError
    from noether.core.utils.common.stopwatch import Stopwatch
    from noether.training.trainers import NonFiniteLossError
    from noether.training.trainers.types import LossResult, TrainerResult

    assert CallBackBaseConfig is noether.config.CallbackConfig
    assert InitializerBase is HomeInitializerBase
    assert InitializerConfig is noether.config.InitializerConfig
    assert _RegistryBase is noether.config.RegistryBase
    assert NonFiniteLossError is HomeNonFiniteLossError is noether.core.NonFiniteLossError
    assert Stopwatch is noether.core.Stopwatch
    assert TrainerResult is noether.core.TrainerResult
    assert LossResult is noether.core.LossResult


def test_a_stopwatch_measures_intervals():
    from noether.core.utils.common.stopwatch import Stopwatch

    watch = Stopwatch()
    with watch:
        sum(range(10_000))
    first = watch.elapsed_seconds
    assert first > 0
    watch.start()
    assert watch.stop() >= first
    assert watch.elapsed_milliseconds == pytest.approx(watch.elapsed_seconds * 1e3)
    assert float(Stopwatch(0.25)) == 0.25
    with pytest.raises(RuntimeError, match="not running"):
        watch.stop()


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


def _trainer(trainer_class: type[BaseTrainer], **config: Any) -> BaseTrainer:
    trainer_config = BaseTrainerConfig(
        kind="my_trainer",
        effective_batch_size=8,
        forward_properties=["x"],
        target_properties=["y"],
        add_default_callbacks=False,
        **config,
    )
    return trainer_class(
        trainer_config,
        data_container=DataContainer({"train": Points()}),
        device="cpu",
        tracker=None,
        path_provider=None,
    )


def _model() -> Linear:
    return Linear(ModelConfig(kind="linear", optimizer=SGDConfig(kind="sgd", lr=0.01)))


def test_update_timings_are_stopwatches_with_elapsed_seconds():
    from noether.core.utils.common.stopwatch import Stopwatch

    seen: list[dict[str, Any]] = []

    class Timings(PeriodicCallback):
        def track_after_update_step(self, losses: Any, timings: Any) -> None:
            seen.append(dict(timings))

    class MyTrainer(BaseTrainer):
        def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
            return torch.nn.functional.mse_loss(forward_output, targets["y"])

        def get_trainer_callbacks(self, callback_default_args: dict[str, Any]) -> list[Any]:
            return [Timings(**callback_default_args, every_n_updates=1)]

    trainer = _trainer(MyTrainer, max_updates=2, max_batch_size=3)  # 3 + 3 + 2 per update
    trainer.train(_model())
    assert len(seen) == 2
    for timings in seen:
        assert set(timings) == {"data_wait", "forward", "backward", "update"}
        for watch in timings.values():
            assert isinstance(watch, Stopwatch)
            assert 0 <= watch.elapsed_seconds < 60
    # and update() itself, called on one batch
    batch = {"x": torch.randn(8, 4), "y": torch.randn(8, 1)}
    model = _model()
    model.initialize(1)
    _, _, timings = trainer.update(batch, model, model, 1, 0)
    assert set(timings) == {"forward", "backward", "update"}
    assert all(isinstance(watch, Stopwatch) for watch in timings.values())


def test_non_finite_loss_error_is_raised_as_the_public_name():
    from noether.training.trainers import NonFiniteLossError

    class NanTrainer(BaseTrainer):
        def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
            return forward_output.sum() * math.nan

    trainer = _trainer(NanTrainer, max_updates=5, skip_nan_loss=True, skip_nan_loss_max_count=2)
    with pytest.raises(NonFiniteLossError, match="3 times in a row"):
        trainer.train(_model())
