"""PyTorch Lightning sides of `loop_overhead.py --lightning`: the same model, data and
optimizer trained by `lightning.Trainer`, bare (no logger, progress bar or checkpoints) and
as Lightning sets it up by default for a user who logs: progress bar, CSV logger, `self.log`
of the loss on the progress bar. Checkpointing and the model summary are off on both
(noether's default callbacks write no checkpoint either)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from turn_taking import Side, Ticking


def find_lightning() -> ModuleType | None:
    """`lightning.pytorch`, else `pytorch_lightning`, else None."""
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


MISSING = (
    "--lightning: neither `lightning` nor `pytorch_lightning` can be imported here; it is in "
    "the workspace's dev group (`uv sync --all-packages`), or `pip install lightning`"
)


def lightning_side(
    pl: ModuleType,
    model: nn.Module,
    dataset: Dataset[dict[str, torch.Tensor]],
    *,
    batch_size: int,
    updates: int,
    lr: float,
    output: Path,
    defaults: bool,
) -> Side:
    """One Lightning run of `updates` updates (the Trainer is built in the timed body);
    `defaults`: progress bar, CSV logger and `self.log`, else bare."""

    class LitRegression(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> Any:
            loss = nn.functional.mse_loss(self.model(batch["x"]), batch["y"])
            if defaults:
                self.log("loss", loss, prog_bar=True)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=0.0)

    def body() -> None:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
        extra: dict[str, Any] = (
            {"logger": pl.loggers.CSVLogger(output, name="lightning")}
            if defaults
            else {"logger": False, "enable_progress_bar": False}
        )
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            max_steps=updates,
            enable_checkpointing=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=output,
            **extra,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no workers", "too few batches to log", ...
            trainer.fit(LitRegression(), train_dataloaders=loader)

    ticking: Ticking = model  # type: ignore[assignment]
    return Side(ticking, body)


def lightning_makers(
    pl: ModuleType,
    make_model: Callable[[], nn.Module],
    dataset: Dataset[dict[str, torch.Tensor]],
    *,
    batch_size: int,
    updates: int,
    lr: float,
    output: Path,
) -> dict[str, Callable[[], Side]]:
    """Makers of the two Lightning sides, `pl_bare` and `pl_default`."""

    def maker(defaults: bool) -> Callable[[], Side]:
        return lambda: lightning_side(
            pl,
            make_model(),
            dataset,
            batch_size=batch_size,
            updates=updates,
            lr=lr,
            output=output,
            defaults=defaults,
        )

    return {"pl_bare": maker(False), "pl_default": maker(True)}
