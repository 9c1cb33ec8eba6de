"""CheckpointWriter: model, optimizer and trainer state in `checkpoint_dir/<tag>/`, atomically.

Each file is written to a temporary file in the same folder, synced, and moved over the old
one with `os.replace`, so a crash or a full disk mid-write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from noether.core.distributed import is_rank0
from noether.core.runs import PathProvider

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
OPTIM_FILE = "optim.pt"
TRAINER_FILE = "trainer.pt"
LATEST_TAG = "latest"


class TrainerLike(Protocol):
    """The part of BaseTrainer that a checkpoint holds."""

    def state_dict(self) -> dict[str, Any]: ...


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's module inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "_orig_mod", None)  # torch.compile
        if isinstance(inner, nn.Module):
            model = inner
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def atomic_save(obj: Any, path: Path) -> None:
    """`torch.save` to `path` through a temporary file and `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


class CheckpointWriter:
    """Writes and reads checkpoints of one run (files on rank 0 only).

    Args:
        path_provider: the run whose `checkpoint_dir` receives the checkpoints.
    """

    def __init__(self, path_provider: PathProvider) -> None:
        self.path_provider = path_provider

    def save(
        self,
        model: nn.Module,
        trainer: TrainerLike | None,
        tag: str,
        save_weights: bool = True,
        save_optim: bool = True,
        save_trainer: bool = True,
    ) -> Path:
        """Writes `checkpoint_dir/<tag>/{model.pt, optim.pt, trainer.pt}` as asked.

        The trainer's state is gathered on every rank (it may hold per-rank RNG states and
        call collectives); only rank 0 writes.

        Returns:
            The checkpoint folder.
        """
        folder = self.path_provider.checkpoint_dir / tag
        model = unwrap_model(model)
        trainer_state = trainer.state_dict() if save_trainer and trainer is not None else None
        if not is_rank0():
            return folder
        if save_weights:
            atomic_save(model.state_dict(), folder / MODEL_FILE)
        optimizer = getattr(model, "optimizer", None)
        if save_optim and optimizer is not None:
            atomic_save(optimizer.state_dict(), folder / OPTIM_FILE)
        if trainer_state is not None:
            atomic_save(trainer_state, folder / TRAINER_FILE)
        logger.info("saved checkpoint %s", folder)
        return folder

    def save_latest(
        self,
        model: nn.Module,
        trainer: TrainerLike | None,
        save_weights: bool = True,
        save_optim: bool = True,
        save_trainer: bool = True,
    ) -> Path:
        """`save` under the tag `latest`, overwritten (atomically) each time."""
        return self.save(model, trainer, LATEST_TAG, save_weights, save_optim, save_trainer)

    def save_object(self, obj: Any, tag: str, filename: str) -> Path:
        """Atomically writes any object into a checkpoint folder (e.g. EMA weights)."""
        path = self.path_provider.checkpoint_dir / tag / filename
        if is_rank0():
            atomic_save(obj, path)
        return path

    @staticmethod
    def load(run_dir: str | os.PathLike[str], tag: str = LATEST_TAG) -> dict[str, Any]:
        """Reads the files of `run_dir/checkpoints/<tag>` onto the CPU.

        Returns:
            `{"model": ..., "optim": ..., "trainer": ...}` with the keys whose files exist.

        Raises:
            FileNotFoundError: no such checkpoint; names the tags that exist.
        """
        folder = Path(run_dir) / "checkpoints" / tag
        if not folder.is_dir():
            root = folder.parent
            tags = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            raise FileNotFoundError(
                f"no checkpoint {tag!r} in {root} (tags: {', '.join(tags) or 'none'})"
            )
        result: dict[str, Any] = {}
        for key, name in (("model", MODEL_FILE), ("optim", OPTIM_FILE)):
            if (folder / name).is_file():
                result[key] = torch.load(folder / name, map_location="cpu", weights_only=True)
        if (folder / TRAINER_FILE).is_file():
            # trainer state holds Python / NumPy RNG states, which weights_only refuses
            result["trainer"] = torch.load(
                folder / TRAINER_FILE, map_location="cpu", weights_only=False
            )
        return result
