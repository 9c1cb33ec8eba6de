"""The ranks of the world-size test (started by test_world_sizes.py).

Usage: python world_sizes_worker.py OUT_DIR WORLD_SIZE...; forks one process per rank of each
world size (1: one process, no process group; more: gloo on CPU). Each rank trains every case
of `CASES` in turn, from the same initial weights, and saves each case's final weights,
micro-batch sizes, update count and what an evaluation callback gathered to
OUT_DIR/w<world size>/rank<rank>.pt.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from noether.core.callbacks.base import PeriodicDataIteratorCallback
from noether.core.data.container import DataContainer
from noether.core.testing import (
    IndexedDataset,
    MseTrainer,
    PairDataset,
    TwoLayerModel,
    TwoLayerModelConfig,
    end_rank,
    free_port,
    make_config,
)

TRAIN_LENGTH = 61
"""Prime: no world size and no effective batch divides it, so every epoch drops a tail."""
TIMEOUT = 150
"""Seconds all ranks together may take before they are killed."""
VAL_LENGTH = 7
"""Not a multiple of 2, 3 or 4: the evaluation shards are padded on some ranks."""


@dataclass(frozen=True)
class Case:
    """One training configuration, trained the same on every world size."""

    effective_batch_size: int
    """Samples per update over all ranks."""
    stop: dict[str, int]
    """The stop criterion (`max_epochs`, `max_updates` or `max_samples`)."""
    max_batch_size: int | None = None
    """Largest micro-batch per rank (None: no accumulation)."""
    optimizer: dict[str, Any] = field(default_factory=dict)
    """The model's optimizer schema with its `kind` (lr 0.05 unless it sets one)."""


CASES: dict[str, Case] = {
    # 5 updates an epoch, 2 epochs: a reshuffle, and 1 sample of each epoch dropped
    "two_epochs": Case(
        12, {"max_epochs": 2}, optimizer={"kind": "sgd", "momentum": 0.9, "weight_decay": 0.01}
    ),
    # micro-batches of 2 (6, 3 and 2 of them), and 2 + 1 on 4 ranks; stops inside epoch 2
    "accumulation": Case(
        12,
        {"max_updates": 7},
        max_batch_size=2,
        optimizer={"kind": "sgd", "momentum": 0.9, "clip_grad_norm": 0.5},
    ),
    # 5+5+5+5+4 on one process, 4+4+4 on two, 4+4 on three, 3+3 on four; Adam and a schedule
    "uneven_micro_batches": Case(
        24,
        {"max_samples": 96},
        max_batch_size=5,
        optimizer={
            "kind": "adamw",
            "schedule": {"kind": "linear_warmup_cosine_decay", "warmup_updates": 1},
        },
    ),
}


class Gather(PeriodicDataIteratorCallback):
    """Gathers the `idx` of every validation item over all ranks (padding dropped)."""

    gathered: list[list[int]] = []

    def process_data(self, batch: dict[str, torch.Tensor], model: Any) -> torch.Tensor:
        return batch["idx"]

    def process_results(self, results: list[torch.Tensor]) -> None:
        Gather.gathered.append(self.gather_results(results).tolist())


class Trainer(MseTrainer):
    def get_trainer_callbacks(self, callback_default_args: dict[str, Any]) -> list[Any]:
        return [Gather(**callback_default_args, dataset_key="val", batch_size=2, every_n_updates=3)]


def train(case: Case) -> dict[str, Any]:
    """Trains `case` from the same initial weights on every rank and world size."""
    torch.manual_seed(0)
    model = TwoLayerModel(
        TwoLayerModelConfig.model_validate({"optimizer": {"lr": 0.05, **case.optimizer}})
    )
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    config = make_config(
        effective_batch_size=case.effective_batch_size,
        max_batch_size=case.max_batch_size,
        **case.stop,
    )
    data = DataContainer(
        {
            "train": PairDataset(TRAIN_LENGTH, seed=0),
            "val": IndexedDataset(VAL_LENGTH, seed=1),
        },
        seed=3,
    )
    Gather.gathered = []
    trainer = Trainer(config, data, "cpu", None, None)
    trainer.train(model)
    return {
        "weights": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "initial": initial,
        "micro_batches": trainer.micro_batch_plan.sizes,
        "update": trainer.update_counter.update,
        "gathered": list(Gather.gathered),
    }


def run_rank(out: Path, rank: int, world_size: int, port: int) -> None:
    """One rank's process (forked): joins the group, trains every case, saves, exits."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    code = 1
    try:
        if world_size > 1:
            dist.init_process_group("gloo")
        results = {name: train(case) for name, case in CASES.items()}
        torch.save(results, out / f"rank{rank}.pt")
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        end_rank(code)


def main() -> None:
    """Imports torch and noether once, then forks every rank of every world size at once:
    a process per rank that starts without importing anything (the imports are most of a
    short run's time)."""
    out, sizes = Path(sys.argv[1]), [int(size) for size in sys.argv[2:]]
    torch.set_num_threads(1)
    importlib.import_module("torch._dynamo")  # what building the first optimizer imports

    context = multiprocessing.get_context("fork")
    processes = []
    for world_size in sizes:
        folder = out / f"w{world_size}"
        folder.mkdir(parents=True)
        port = free_port()
        for rank in range(world_size):
            process = context.Process(target=run_rank, args=(folder, rank, world_size, port))
            process.start()
            processes.append((world_size, rank, process))
    deadline = time.monotonic() + TIMEOUT
    failed = []
    for world_size, rank, process in processes:
        process.join(max(deadline - time.monotonic(), 0))
        if process.exitcode != 0:
            failed.append(f"world size {world_size} rank {rank}: exit code {process.exitcode}")
    for _, _, process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    if failed:
        sys.exit("\n".join(failed))


if __name__ == "__main__":
    main()
