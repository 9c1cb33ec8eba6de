"""Runtime classes of the resume tests' project."""

from __future__ import annotations

import atexit
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from resume_configs import (
    HangingMseTrainerConfig,
    MlpModelConfig,
    NanAtUpdatesMseTrainerConfig,
    NoisyRegressionDatasetConfig,
    SignalInFinalizerDatasetConfig,
    SignalWhileStartingMlflowTrackerConfig,
    SlowBuildDatasetConfig,
    SlowCloseJsonlTrackerConfig,
    SlowExitJsonlTrackerConfig,
    TwoLayerModelConfig,
)
from torch.utils.data import Dataset

from noether.core.models import ModelBase
from noether.core.runs import PathProvider
from noether.core.trackers.jsonl import JsonlTracker
from noether.core.trackers.mlflow import MlflowTracker
from noether.core.trainer.base import BaseTrainer

FEATURES = 4


def _wait_at_gate(variable: str, marker: str) -> None:
    """With `variable`=<folder>: writes `<folder>/<marker>`, then waits for `<folder>/go`
    (at most a minute), so that a test acts while the run is at this point."""
    gate = os.environ.get(variable)
    if not gate:
        return
    (Path(gate) / marker).write_text(f"{marker}\n", encoding="utf-8")
    deadline = time.monotonic() + 60
    while not (Path(gate) / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


# RESUME_IMPORT_GATE: while `noether-train` imports the project (after it planned a resume,
# before it locked the run folder)
_wait_at_gate("RESUME_IMPORT_GATE", "importing")

TRAIN_GATE_AT_STEP = 5
"""The train step (counted from 1 in each process) held by RESUME_TRAIN_GATE: 4 updates are
done, so the project's `latest` checkpoint exists, and many are left. A test can signal a run
that is surely training there (the whole run trains in a few tens of milliseconds, less than
a loaded host may take to schedule the test's process); a signal sent before `go` is handled
in the wait."""


class NoisyRegressionDataset(Dataset[dict[str, torch.Tensor]]):
    """Fixed inputs and a linear target; with noise, every item draws random numbers the way
    augmentation or point sampling does (torch, NumPy and Python's RNGs)."""

    def __init__(self, config: NoisyRegressionDatasetConfig) -> None:
        generator = torch.Generator().manual_seed(1234)
        self.x = torch.randn(config.size, FEATURES, generator=generator)
        self.y = (self.x @ torch.linspace(-1.0, 1.0, FEATURES) + 0.5).unsqueeze(-1)
        self.noise = config.noise
        if config.poison_index is not None:
            self.x[config.poison_index] = float("nan")

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = self.x[index]
        if self.noise:
            jitter = torch.randn(FEATURES) + float(np.random.normal()) + random.random()
            x = x + self.noise * jitter
        return {"x": x, "y": self.y[index]}


class SlowBuildDataset(NoisyRegressionDataset):
    """Writes a marker file, then takes `build_seconds` more to build."""

    def __init__(self, config: SlowBuildDatasetConfig) -> None:
        super().__init__(config)
        Path(config.build_marker).write_text("building\n", encoding="utf-8")
        time.sleep(config.build_seconds)


class _SignalsWhenCollected:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs here, inside the finalizer


class SignalInFinalizerDataset(NoisyRegressionDataset):
    """Gets SIGTERM inside a finalizer while it is built."""

    def __init__(self, config: SignalInFinalizerDatasetConfig) -> None:
        super().__init__(config)
        collected = _SignalsWhenCollected()
        del collected


class SignalWhileStartingMlflowTracker(MlflowTracker):
    """Gets SIGTERM once its MLflow run exists, before `start` returns."""

    def __init__(self, config: SignalWhileStartingMlflowTrackerConfig) -> None:
        super().__init__(config)

    def _start(self, path_provider: PathProvider, config: dict[str, Any]) -> None:
        super()._start(path_provider, config)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises first


class Mlp(ModelBase):
    """A small MLP; dropout makes the forward pass draw random numbers."""

    def __init__(self, model_config: MlpModelConfig) -> None:
        super().__init__(model_config)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(FEATURES, model_config.hidden),
            torch.nn.Tanh(),
            torch.nn.Dropout(model_config.dropout),
            torch.nn.Linear(model_config.hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TwoLayer(ModelBase):
    """`hidden` (FEATURES -> 3) and `head` (3 -> 1), registered in the config's order."""

    def __init__(self, model_config: TwoLayerModelConfig) -> None:
        super().__init__(model_config)
        if model_config.head_first:
            self.head = torch.nn.Linear(3, 1)
            self.hidden = torch.nn.Linear(FEATURES, 3)
        else:
            self.hidden = torch.nn.Linear(FEATURES, 3)
            self.head = torch.nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.hidden(x)))


class MseTrainer(BaseTrainer):
    """Only `loss_compute`, as in the seed's docstring."""

    gate_steps = 0
    """`loss_compute` calls so far, for RESUME_TRAIN_GATE."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        self.gate_steps += 1
        if self.gate_steps == TRAIN_GATE_AT_STEP:
            _wait_at_gate("RESUME_TRAIN_GATE", "training")
        return {"mse": torch.nn.functional.mse_loss(forward_output, targets["y"])}


class HangingMseTrainer(MseTrainer):
    """Sleeps forever in one train step, whatever signals arrive (a stuck data loader or
    collective looks the same to the loop: the update never ends)."""

    config: HangingMseTrainerConfig
    loss_calls = 0
    """`loss_compute` calls so far."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        self.loss_calls += 1
        if self.loss_calls == self.config.hang_at_step:
            Path(self.config.hang_marker).write_text("hanging\n", encoding="utf-8")
            while True:
                time.sleep(0.05)
        return super().loss_compute(forward_output, targets)


class NanAtUpdatesMseTrainer(MseTrainer):
    """The loss is NaN in the updates of `nan_updates` (the same update after a resume); in
    those of `nan_gradient_updates` the loss is finite and its gradient NaN."""

    config: NanAtUpdatesMseTrainerConfig

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        losses = super().loss_compute(forward_output, targets)
        update = self.update_counter.update + 1
        if update in self.config.nan_updates:
            return {name: loss * float("nan") for name, loss in losses.items()}
        if update in self.config.nan_gradient_updates:  # sqrt(0) = 0, its derivative is inf
            zero = ((forward_output - forward_output.detach()) ** 2).sum()
            return {**losses, "distance": torch.sqrt(zero)}
        return losses


class SlowCloseJsonlTracker(JsonlTracker):
    """Writes a marker file, then takes `close_seconds` more to close."""

    config: SlowCloseJsonlTrackerConfig

    def _close(self) -> None:
        super()._close()
        Path(self.config.close_marker).write_text("closing\n", encoding="utf-8")
        time.sleep(self.config.close_seconds)


class SlowExitJsonlTracker(JsonlTracker):
    """Registers an atexit hook that writes a marker file, then takes `exit_seconds`."""

    config: SlowExitJsonlTrackerConfig

    def _close(self) -> None:
        super()._close()
        atexit.register(self._slow_exit)

    def _slow_exit(self) -> None:
        Path(self.config.exit_marker).write_text("exiting\n", encoding="utf-8")
        time.sleep(self.config.exit_seconds)
