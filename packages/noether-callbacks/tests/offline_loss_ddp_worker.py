"""Worker of test_callbacks_offline_loss_ddp: trains 2 updates on 2 gloo ranks with an
offline_loss on an uneven dataset, then rank 0 writes the logged and the directly computed
losses as JSON. Run with `torchrun --nproc-per-node 2 offline_loss_ddp_worker.py OUT.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from noether.config.schemas.tracker import NoopTrackerConfig
from noether.core.data.container import DataContainer
from noether.core.runs import PathProvider
from noether.core.testing import LinearModel, LinearModelConfig, MseTrainerConfig, end_rank, sgd
from noether.core.trackers.noop import NoopTracker
from noether.core.trainer.base import BaseTrainer

torch.set_num_threads(1)


class Points(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, length: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(length, 3, generator=generator)
        self.y = self.x @ torch.tensor([1.0, -1.0, 2.0]) + torch.randn(length, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y_target": self.y[index]}


class DdpTrainer(BaseTrainer):
    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return {"y": ((forward_output["y"] - targets["y_target"]) ** 2).mean()}


def main(out: Path, run_dir: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    val = Points(11, 2)  # 11 samples on 2 ranks: 6 + 6 with one padded; batches of 4: 4 + 2
    config = MseTrainerConfig.model_validate(
        {
            "max_updates": 2,
            "effective_batch_size": 4,
            "forward_properties": ["x"],
            "target_properties": ["y_target"],
            "add_default_callbacks": False,
            "callbacks": [
                {
                    "kind": "offline_loss",
                    "every_n_updates": 2,
                    "dataset_key": "val",
                    "batch_size": 4,
                }
            ],
        }
    )
    path = PathProvider(run_dir, "ddp", "run", reuse_existing=True, create=rank == 0)
    dist.barrier()
    trainer = DdpTrainer(
        config,
        DataContainer({"train": Points(16, 1), "val": val}),
        "cpu",
        NoopTracker(NoopTrackerConfig()),
        path,
    )
    torch.manual_seed(0)
    model = LinearModel(LinearModelConfig(in_dim=3, fields=["y"], optimizer=sgd(0.1)))
    trainer.train(model)
    logged = trainer.log_writer.last_values["loss/val/y"]
    with torch.no_grad():
        direct = float(((model(x=val.x)["y"] - val.y) ** 2).mean())
    gathered = [None, None]
    dist.all_gather_object(gathered, logged)
    if rank == 0:
        out.write_text(json.dumps({"logged": gathered, "direct": direct}))
    end_rank()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
