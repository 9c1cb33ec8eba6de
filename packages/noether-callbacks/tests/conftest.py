"""A tiny real training setup for the callback tests: linear model, dataset, trainer.

Everything is real noether-core (BaseTrainer, DataContainer, CheckpointWriter, JsonlTracker);
only the model and data are small. `make_run` returns a factory of trainers whose user
callbacks come from a list of callback configs (validated like YAML), optionally preceded by
test probes (callbacks that script a metric or record weights: `MetricScript` and
`WeightRecorder` of noether.core.testing). The model is noether.core.testing's LinearModel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from noether.config.schemas.tracker import JsonlTrackerConfig
from noether.core.callbacks.base import CallbackBase, CallbackContext
from noether.core.data.container import DataContainer
from noether.core.runs import PathProvider
from noether.core.testing import (
    LinearModel,
    LinearModelConfig,
    MseTrainerConfig,
    sgd,
    with_stop_criterion,
)
from noether.core.trackers.jsonl import JsonlTracker, read_jsonl
from noether.core.trainer.base import BaseTrainer

torch.set_num_threads(1)


class TwoTargetDataset(Dataset[dict[str, torch.Tensor]]):
    """Deterministic samples: x in R^3 and two targets that depend linearly on x."""

    def __init__(self, length: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(length, 3, generator=generator)
        self.a = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
        self.b = self.x @ torch.tensor([-0.5, 0.2, 1.5]) - 0.1

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "a_target": self.a[index], "b_target": self.b[index]}


def pair_losses(output: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> Any:
    """MSE per field (the loss that offline_loss must reproduce) and an extra output."""
    loss_a = ((output["a"] - targets["a_target"]) ** 2).mean()
    loss_b = ((output["b"] - targets["b_target"]) ** 2).mean()
    max_error = (output["a"] - targets["a_target"]).abs().max()
    return {"a": loss_a, "b": loss_b}, {"max_error": max_error}


class PairTrainer(BaseTrainer):
    """A BaseTrainer with two loss fields; probes run before the configured callbacks."""

    def __init__(
        self, *args: Any, probes: list[Callable[[CallbackContext], CallbackBase]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.probes = probes
        self.outputs_seen: list[float] = []

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        losses, outputs = pair_losses(forward_output, targets)
        if torch.is_grad_enabled():  # training steps only (offline_loss runs under no_grad)
            self.outputs_seen.append(float(outputs["max_error"].detach()))
        return losses, outputs

    def get_user_callbacks(self, model: Any, evaluation: bool = False) -> list[CallbackBase]:
        context = self.callback_context_for(model)
        return [probe(context) for probe in self.probes] + super().get_user_callbacks(
            model, evaluation
        )


class Run:
    """One built training run of the tests."""

    def __init__(self, trainer: PairTrainer, model: LinearModel, path: PathProvider) -> None:
        self.trainer = trainer
        self.model = model
        self.path = path

    def train(self) -> Run:
        self.trainer.train(self.model)
        self.trainer.tracker.close()
        return self

    @property
    def rows(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path.run_dir / "metrics.jsonl")

    def callback(self, cls: type) -> Any:
        (found,) = [cb for cb in self.trainer.callbacks if isinstance(cb, cls)]
        return found

    def probe(self, cls: type) -> Any:
        return self.callback(cls)


MakeRun = Callable[..., Run]


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """Factory: `make_run(callbacks=[{...}], probes=[...], **trainer_fields)`."""

    def make(
        callbacks: list[dict[str, Any]] = (),  # type: ignore[assignment]
        probes: list[Callable[[CallbackContext], CallbackBase]] = (),  # type: ignore[assignment]
        train_length: int = 32,
        val_length: int = 10,
        run_id: str | None = None,
        **trainer_fields: Any,
    ) -> Run:
        fields = {
            "effective_batch_size": 4,
            "forward_properties": ["x"],
            "target_properties": ["a_target", "b_target"],
            "add_default_callbacks": False,
            **trainer_fields,
            "callbacks": list(callbacks),
        }
        config = MseTrainerConfig.model_validate(with_stop_criterion(fields, max_updates=6))
        path = PathProvider(tmp_path / "runs", "callbacks", run_id)
        tracker = JsonlTracker(JsonlTrackerConfig())
        tracker.start(path, {})
        datasets = {
            "train": TwoTargetDataset(train_length, 1),
            "val": TwoTargetDataset(val_length, 2),
        }
        trainer = PairTrainer(
            config, DataContainer(datasets), "cpu", tracker, path, probes=list(probes)
        )
        torch.manual_seed(0)
        model = LinearModel(LinearModelConfig(in_dim=3, fields=["a", "b"], optimizer=sgd(0.05)))
        return Run(trainer, model, path)

    return make
