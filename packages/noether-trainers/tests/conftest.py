"""Shared pieces of the trainers tests: a two-field model and dataset, trainer construction."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from noether.config import ModelConfig, WeightedLossTrainerConfig
from noether.config.entry_points import clear_cache
from noether.config.schemas.optimizer import SGDConfig
from noether.config.schemas.tracker import JsonlTrackerConfig
from noether.core.data.container import DataContainer
from noether.core.models.base import ModelBase
from noether.core.runs import PathProvider
from noether.core.trackers.jsonl import JsonlTracker
from noether.training.trainers import WeightedLossTrainer

torch.set_num_threads(1)


class FieldsModelConfig(ModelConfig):
    """Linear map from `x` to the fields `pressure` (4 values) and `velocity` (4 x 3)."""

    kind: str = "trainers_test_fields"
    fields: list[str] = ["pressure", "velocity"]


class FieldsModel(ModelBase):
    """Returns {field: tensor} for the configured fields (velocity has a trailing dim 3)."""

    def __init__(self, model_config: FieldsModelConfig) -> None:
        super().__init__(model_config)
        self.fields = list(model_config.fields)
        self.pressure = torch.nn.Linear(2, 4)
        self.velocity = torch.nn.Linear(2, 12)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"pressure": self.pressure(x), "velocity": self.velocity(x).view(-1, 4, 3)}
        return {name: out[name] for name in self.fields}


class FieldsDataset(Dataset[dict[str, torch.Tensor]]):
    """Items {x, pressure_target, velocity_target}: a linear function of x plus nothing else."""

    def __init__(self, length: int = 32, seed: int = 0, drop: tuple[str, ...] = ()) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(length, 2, generator=generator)
        self.pressure = self.x @ torch.tensor([[1.0, -1.0, 0.5, 2.0], [0.3, 0.2, -0.7, 1.0]])
        self.velocity = (self.x @ torch.full((2, 12), 0.25)).view(length, 4, 3)
        self.drop = drop

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {
            "x": self.x[index],
            "pressure_target": self.pressure[index],
            "velocity_target": self.velocity[index],
        }
        return {key: value for key, value in item.items() if key not in self.drop}


def make_config(**overrides: Any) -> WeightedLossTrainerConfig:
    values: dict[str, Any] = {
        "field_weights": {"pressure": 1.0, "velocity": 0.5},
        "effective_batch_size": 8,
        "forward_properties": ["x"],
        "add_default_callbacks": False,
    }
    values.update(overrides)
    if not any(k in values for k in ("max_epochs", "max_updates", "max_samples")):
        values["max_epochs"] = 1
    return WeightedLossTrainerConfig(**values)


def make_model(fields: list[str] | None = None, lr: float = 0.05, seed: int = 0) -> FieldsModel:
    torch.manual_seed(seed)
    config = FieldsModelConfig(optimizer=SGDConfig(kind="sgd", lr=lr))
    if fields is not None:
        config = config.model_copy(update={"fields": fields})
    return FieldsModel(config)


def make_trainer(
    config: WeightedLossTrainerConfig,
    dataset: Dataset[Any] | None = None,
    path_provider: PathProvider | None = None,
) -> WeightedLossTrainer:
    """A trainer with a jsonl tracker that writes into the path provider's run folder."""
    tracker = JsonlTracker(JsonlTrackerConfig())
    if path_provider is not None:
        tracker.start(path_provider, {})
    data = DataContainer({"train": dataset if dataset is not None else FieldsDataset()})
    return WeightedLossTrainer(
        config, data_container=data, device="cpu", tracker=tracker, path_provider=path_provider
    )


def install_fake_distribution(
    root: Path, dist_name: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """A real (unpacked) distribution on sys.path: modules plus a dist-info with entry points.

    `importlib.metadata` finds it like any installed package; callers clear the cache.
    """
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{dist_name.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.0.1\n", encoding="utf-8"
    )
    lines = ["[noether.losses]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def fake_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Installs fake distributions into a tmp folder on sys.path; forgets them afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(dist_name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        install_fake_distribution(site, dist_name, entry_points, modules)
        clear_cache()

    yield install
    clear_cache()


@pytest.fixture
def path_provider(tmp_path: Path) -> PathProvider:
    return PathProvider(tmp_path / "runs", "trainers_test")


@pytest.fixture
def kit() -> Any:
    """This module: tests reach the helpers through it (conftest cannot be imported)."""
    return sys.modules[__name__]
