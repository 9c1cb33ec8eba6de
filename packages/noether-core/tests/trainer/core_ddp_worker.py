"""One process of the 2-process gloo test (started by test_core_trainer_ddp.py).

Usage: python core_ddp_worker.py OUT_DIR MAX_BATCH_SIZE [signal] [nan]; RANK / WORLD_SIZE /
MASTER_* in env. With `signal`, rank 1 sends itself SIGINT after update 3 (save_on_sigint is
on). With `nan` (skip_nan_loss on), rank 0's loss is infinite on its 3rd train_step call and
rank 1's is NaN on its 5th and 6th (both micro-batches of update 3 with 2 per update).
Trains a linear model for a few updates and saves its weights and what an evaluation callback
gathered to OUT_DIR/rank<r>.pt.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from noether.core.callbacks.base import PeriodicCallback, PeriodicDataIteratorCallback
from noether.core.data.container import DataContainer
from noether.core.testing import IndexedDataset, MseTrainer, end_rank, make_config, make_model


class Gather(PeriodicDataIteratorCallback):
    gathered: list[list[int]] = []

    def process_data(self, batch: dict[str, torch.Tensor], model: Any) -> torch.Tensor:
        return batch["idx"]

    def process_results(self, results: list[torch.Tensor]) -> None:
        Gather.gathered.append(self.gather_results(results).tolist())


class SignalRank1(PeriodicCallback):
    def periodic_callback(self) -> None:
        if int(os.environ.get("RANK", "0")) == 1 and self.update_counter.update == 3:
            os.kill(os.getpid(), signal.SIGINT)


class Weights(PeriodicCallback):
    """The weights after every update, and the total loss that each micro-batch logs."""

    seen: list[dict[str, torch.Tensor]] = []
    logged: list[float] = []

    def track_after_accumulation_step(self, losses: Any, *args: Any) -> None:
        Weights.logged.append(float(losses["total"]))

    def track_after_update_step(self, losses: Any, timings: Any) -> None:
        assert self.model is not None
        Weights.seen.append({k: v.clone() for k, v in self.model.state_dict().items()})


class Trainer(MseTrainer):
    used_ddp = False
    calls = 0

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        loss = super().loss_compute(forward_output, targets)
        call, Trainer.calls = Trainer.calls, Trainer.calls + 1
        rank = int(os.environ.get("RANK", "0"))
        if "nan" in sys.argv and ((rank == 0 and call == 2) or (rank == 1 and call in (4, 5))):
            return loss * (float("inf") if rank == 0 else float("nan"))
        return loss

    def wrap_ddp(self, model: Any) -> torch.nn.Module:
        wrapped = super().wrap_ddp(model)
        self.used_ddp = isinstance(wrapped, DistributedDataParallel)
        return wrapped

    def get_trainer_callbacks(self, callback_default_args: dict[str, Any]) -> list[Any]:
        callbacks: list[Any] = [
            Gather(**callback_default_args, dataset_key="val", batch_size=2, every_n_updates=3)
        ]
        if "nan" in sys.argv:
            callbacks.append(Weights(**callback_default_args, every_n_updates=1))
        if "signal" in sys.argv:
            callbacks.append(SignalRank1(**callback_default_args, every_n_updates=1))
        return callbacks


def main() -> None:
    out, max_batch_size = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        dist.init_process_group("gloo")
    model = make_model(lr=0.05, momentum=0.9)
    config = make_config(
        max_updates=6,
        max_batch_size=max_batch_size,
        save_on_sigint="signal" in sys.argv,
        skip_nan_loss="nan" in sys.argv,
    )
    data = DataContainer({"train": IndexedDataset(64, seed=0), "val": IndexedDataset(5, seed=1)})
    trainer = Trainer(config, data, "cpu", None, None)
    trainer.train(model)
    rank = int(os.environ.get("RANK", "0"))
    torch.save(
        {
            "weights": {k: v.clone() for k, v in model.state_dict().items()},
            "ddp": trainer.used_ddp,
            "ddp_released": trainer.ddp_model is None,
            "accumulation_steps": trainer.accumulation_steps,
            "gathered": Gather.gathered,
            "update": trainer.update_counter.update,
            "weights_per_update": Weights.seen,
            "logged_losses": Weights.logged,
        },
        out / f"rank{rank}.pt",
    )
    end_rank()


if __name__ == "__main__":
    main()
