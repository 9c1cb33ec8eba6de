"""A tiny regression trained with the public API, written as the seed shows: the shared part of
test_seed_accumulation.py and its 2-rank gloo worker (`python seed_uneven_accumulation.py OUT
EFFECTIVE MAX`, RANK / WORLD_SIZE / MASTER_* in the environment)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from noether.config import BaseTrainerConfig, ModelConfig
from noether.config.schemas import SGDConfig
from noether.core import DataContainer, ModelBase
from noether.training.trainers import BaseTrainer


class Points(Dataset):
    def __init__(self, length: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(length, 4, generator=generator)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.5

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}


class Linear(ModelBase):
    def __init__(self, model_config: ModelConfig) -> None:
        super().__init__(model_config)
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class MyTrainer(BaseTrainer):
    """The seed's docstring trainer, recording the size of every micro-batch it sees."""

    def __init__(self, trainer_config: Any, **kwargs: Any) -> None:
        super().__init__(trainer_config, **kwargs)
        self.micro_batch_sizes: list[int] = []

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        self.micro_batch_sizes.append(len(forward_output))
        return torch.nn.functional.mse_loss(forward_output, targets["y"])


def train(
    effective_batch_size: int, max_batch_size: int | None, updates: int = 3
) -> tuple[torch.Tensor, list[int]]:
    """(trained weights, micro-batch sizes seen) after `updates` updates from a fixed start."""
    torch.manual_seed(0)
    model = Linear(
        ModelConfig(kind="linear", optimizer=SGDConfig(kind="sgd", lr=0.1, momentum=0.9))
    )
    config = BaseTrainerConfig(
        kind="my_trainer",
        max_updates=updates,
        effective_batch_size=effective_batch_size,
        max_batch_size=max_batch_size,
        forward_properties=["x"],
        target_properties=["y"],
        add_default_callbacks=False,
    )
    trainer = MyTrainer(
        config,
        data_container=DataContainer({"train": Points(84)}),
        device="cpu",
        tracker=None,
        path_provider=None,
    )
    trainer.train(model)
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    return weights, trainer.micro_batch_sizes


def main() -> None:
    out, effective, maximum = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    weights, sizes = train(effective, maximum)
    torch.save({"weights": weights, "sizes": sizes}, out / f"rank{dist.get_rank()}.pt")
    dist.barrier()
    dist.destroy_process_group()
    # torch's gloo threads may abort the interpreter's teardown: everything is written
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
