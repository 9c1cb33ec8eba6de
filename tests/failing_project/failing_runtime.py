"""Runtime of the failing project: a user's dataset, model and trainer with a bug."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import torch
from failing_configs import (
    FailingModelConfig,
    RaisingTrackerConfig,
    SmallDatasetConfig,
)
from torch.utils.data import Dataset, get_worker_info

from noether.core.callbacks.base import PeriodicCallback
from noether.core.models import ModelBase
from noether.core.trackers.base import TrackerBase
from noether.core.trainer.base import BaseTrainer


def read_columns(columns: dict[str, list[float]]) -> torch.Tensor:
    return torch.tensor(columns["pressure"])  # the bug: the file has no such column


def open_sample(name: str) -> None:
    with open(f"/nonexistent/{name}.npz", "rb"):  # the data set is not where it should be
        pass


class SmallDataset(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, config: SmallDatasetConfig) -> None:
        if config.broken or config.broken_on_rank == int(os.environ.get("RANK", "0")):
            read_columns({"velocity": [1.0]})
        if config.invalid:
            raise ValueError("the mesh has no boundary")  # the user's own check
        if config.fileless:
            open_sample("mesh")
        self.fileless_item = config.fileless_item
        self.killing_item = config.killing_item
        self.exiting_item = config.exiting_item
        self.nan_item = config.nan_item
        self.bad_item = config.bad_item
        self.keyless_item = config.keyless_item
        self.x = torch.randn(config.size, 4, generator=torch.Generator().manual_seed(0))
        self.y = self.x.sum(dim=1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = {"x": self.x[index], "y": self.y[index]}
        if index == self.bad_item:
            return {"x": sample["x"], "y": sample["pressure"]}  # the bug: no such key
        if index == self.keyless_item:
            return {"x": sample["x"]}  # the bug: "y" left out
        if index == self.fileless_item:
            open_sample(f"sample_{index}")
        if index == self.killing_item and get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        if index == self.exiting_item:
            sys.exit(3)
        if index == self.nan_item:
            sample["y"] = torch.full_like(sample["y"], float("nan"))
        return sample


class AbortAtFinalization:
    """Kept in a module global: the interpreter's finalization destroys it and it aborts the
    process (exit code 134), as a C++ thread that outlives its object does."""

    def __init__(self) -> None:
        self._abort = os.abort  # the os module may be cleared before this object

    def __del__(self) -> None:
        self._abort()


_finalization_probe: AbortAtFinalization | None = None


class FailingModel(ModelBase):
    def __init__(self, model_config: FailingModelConfig) -> None:
        global _finalization_probe
        super().__init__(model_config)
        self.config = model_config
        self.layer = torch.nn.Linear(4, 1)
        self.calls = 0
        if model_config.abort_in_teardown:
            _finalization_probe = AbortAtFinalization()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            rank = int(os.environ.get("RANK", "0"))
            wanted = self.config.fail_on_rank in (None, rank)
            if self.calls == self.config.fail_at and wanted:
                x = x[:, :3]  # the bug: a feature dropped
            if self.calls == self.config.exit_at:
                sys.exit(0)  # left in from debugging
        return self.layer(x)


class MseTrainer(BaseTrainer):
    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return torch.nn.functional.mse_loss(forward_output, targets["y"])


class RaisingCallback(PeriodicCallback):
    def periodic_callback(self) -> None:
        on_rank = getattr(self.config, "on_rank", None)
        if on_rank in (None, int(os.environ.get("RANK", "0"))):
            raise RuntimeError("the probe file is missing")

    def state_dict(self) -> dict[str, Any]:
        if getattr(self.config, "broken_state", False):
            raise TypeError("cannot pickle the probe handle")
        return {}


class RaisingTracker(TrackerBase):
    def __init__(self, config: RaisingTrackerConfig) -> None:
        if config.in_init:
            raise ConnectionError("no tracking server")
        super().__init__(config)

    def _close(self) -> None:
        raise ConnectionError("the tracking server went away")
