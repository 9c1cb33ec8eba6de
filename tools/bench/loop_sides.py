"""The sides of `loop_overhead.py`: its workloads, the plain PyTorch loop and the trainer
(with default callbacks, bare, or with parts of its default path switched off), each as a
`Side` that `turn_taking.py` runs. `instruction_count.py` and `gpu_throughput.py` use them too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from turn_taking import Side

from noether.config import BaseTrainerConfig, CallbackConfig, ModelConfig
from noether.config.default_metrics import default_intervals
from noether.config.schemas.optimizer import AdamWConfig
from noether.config.schemas.tracker import JsonlTrackerConfig, TrackerConfig
from noether.core.callbacks.base import CallbackBase
from noether.core.callbacks.default import OnlineLossCallback, OnlineLossConsoleCallback
from noether.core.data.container import DataContainer
from noether.core.models.base import ModelBase
from noether.core.runs import PathProvider
from noether.core.trackers.base import TrackerBase
from noether.core.trackers.jsonl import JsonlTracker
from noether.core.trackers.noop import NoopTracker
from noether.core.trainer.base import BaseTrainer

LR = 1e-3


@dataclass(frozen=True)
class Workload:
    """One benchmark setting."""

    name: str
    dims: tuple[int, ...]
    samples: int
    batch_size: int
    updates: int


WORKLOADS = {
    "A": Workload("A", (32, 64, 64, 1), samples=65_536, batch_size=64, updates=1_024),
    "B": Workload("B", (256, 1024, 1024, 256), samples=128 * 128, batch_size=128, updates=128),
}


class DictDataset(Dataset[dict[str, torch.Tensor]]):
    """Random regression pairs; items are `{"x": ..., "y": ...}` as noether expects."""

    def __init__(self, samples: int, in_dim: int, out_dim: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(samples, in_dim, generator=generator)
        self.y = torch.randn(samples, out_dim, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}


def build_mlp(dims: tuple[int, ...]) -> nn.Sequential:
    """Linear layers with GELU in between."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class BenchModelConfig(ModelConfig):
    """The MLP of the benchmark."""

    kind: str = "bench_loop_overhead_mlp"
    dims: tuple[int, ...]


class BenchModel(ModelBase):
    """`build_mlp(dims)` as a ModelBase; each forward call ticks `on_forward` when set."""

    def __init__(self, model_config: BenchModelConfig) -> None:
        super().__init__(model_config)
        self.net = build_mlp(model_config.dims)
        self.on_forward: Callable[[], None] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        on_forward = self.on_forward
        if on_forward is not None:
            on_forward()
        return self.net(x)


class BenchTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Trainer config of the benchmark."""

    kind: str = "bench_loop_overhead_trainer"


def at_run_intervals(config: BenchTrainerConfig, run_updates: int) -> BenchTrainerConfig:
    """The config whose default callbacks log and track at the intervals they choose in a
    run of `run_updates` updates (0: the config's own, those of the bench's few updates)."""
    if not run_updates:
        return config
    intervals = default_intervals(config, run_updates)
    return config.model_copy(
        update={
            "log_every_n_updates": intervals["log"]["every_n_updates"],
            "track_every_n_updates": intervals["track"]["every_n_updates"],
        }
    )


class MseTrainer(BaseTrainer):
    """The seed's minimal trainer: only loss_compute."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return nn.functional.mse_loss(forward_output, targets["y"])


class MseTrainerWithoutOnlineLoss(MseTrainer):
    """MseTrainer whose default callbacks leave out the online loss and its console line."""

    def get_default_callbacks(self, default_kwargs: dict[str, Any]) -> list[CallbackBase]:
        online = (OnlineLossCallback, OnlineLossConsoleCallback)
        callbacks = super().get_default_callbacks(default_kwargs)
        return [callback for callback in callbacks if not isinstance(callback, online)]


def make_model(workload: Workload) -> BenchModel:
    """The same model (class, weights) for every side."""
    torch.manual_seed(0)
    return BenchModel(
        BenchModelConfig(dims=workload.dims, optimizer=AdamWConfig(lr=LR, weight_decay=0.0))
    )


def plain_loop(workload: Workload, dataset: DictDataset, model: BenchModel) -> None:
    """What a user writes by hand: data loader, optimizer and all updates."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    loader = DataLoader(dataset, batch_size=workload.batch_size, shuffle=True, drop_last=True)
    model.train()
    done = 0
    while done < workload.updates:
        for batch in loader:
            loss = nn.functional.mse_loss(model(batch["x"]), batch["y"])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            if done == workload.updates:
                break


def make_tracker(kind: str) -> TrackerBase:
    if kind == "jsonl":
        return JsonlTracker(JsonlTrackerConfig())
    return NoopTracker(TrackerConfig(kind="noop"))


def plain_side(workload: Workload, dataset: DictDataset) -> Side:
    model = make_model(workload)
    return Side(model, lambda: plain_loop(workload, dataset, model))


def trainer_side(
    workload: Workload,
    dataset: DictDataset,
    tracker_kind: str,
    output: Path,
    default_callbacks: bool = True,
    nan_guard: bool = True,
    trainer_class: type[MseTrainer] = MseTrainer,
    run_updates: int = 0,
) -> Side:
    """BaseTrainer built and trained in the timed body (default callbacks and the NaN guard
    on unless told); the tracker is started before and closed after, outside the timing.
    With `run_updates`, the default callbacks log and track as in a run that long."""
    model = make_model(workload)
    config = BenchTrainerConfig(
        max_updates=workload.updates,
        effective_batch_size=workload.batch_size,
        forward_properties=["x"],
        target_properties=["y"],
        add_default_callbacks=default_callbacks,
        stop_on_nan_loss=nan_guard,
    )
    config = at_run_intervals(config, run_updates)
    path_provider = PathProvider(output, f"bench_{workload.name}")
    tracker = make_tracker(tracker_kind)
    tracker.start(path_provider, {"benchmark": workload.name})
    data = DataContainer({"train": dataset})

    def body() -> None:
        trainer_class(config, data, "cpu", tracker, path_provider).train(model)

    return Side(model, body, tracker.close)
