"""Worker of test_callbacks_metric_ranks: 2 gloo ranks whose logged values of one metric differ
(a user's metric that each rank computes on its own data) and one that only rank 0 logs, read by
metric_early_stopper, best_metric and best_checkpoint. Each rank writes, as JSON, where it
stopped and what the readers decided. Run with `torchrun --nproc-per-node 2 THIS OUT_DIR`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from noether.callbacks.best_checkpoint import BestCheckpointCallback
from noether.callbacks.best_metric import BestMetricCallback
from noether.callbacks.metric_early_stopper import MetricEarlyStopper
from noether.config.schemas.tracker import NoopTrackerConfig
from noether.core.callbacks.base import CallbackBase
from noether.core.data.container import DataContainer
from noether.core.runs import PathProvider
from noether.core.testing import (
    LinearModel,
    LinearModelConfig,
    MetricScript,
    MseTrainerConfig,
    end_rank,
    sgd,
)
from noether.core.trackers.noop import NoopTracker
from noether.core.trainer.base import BaseTrainer

torch.set_num_threads(1)

# `custom/score`, read by the stopper: on rank 0 (whose values the tracker writes) best 3 at
# update 3, then no improvement, so patience 2 stops at update 5; on rank 1 it improves at every
# update (alone, it would never stop)
SCORE = {
    0: [5.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0],
    1: [10.0 - u for u in range(12)],
}
# `custom/rank0`, read by best_metric and best_checkpoint: logged by rank 0 only, best at update 4
RANK0 = [2.0, 1.0, 1.5, 0.5, 0.7, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


class Points(Dataset[dict[str, torch.Tensor]]):
    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = torch.full((3,), float(index))
        return {"x": x, "y_target": x.sum()}


class ScriptedTrainer(BaseTrainer):
    """MSE on `y`; MetricScripts of this rank's values run before the configured callbacks."""

    def __init__(self, *args: Any, values: dict[str, list[float]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.values = values

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return {"y": ((forward_output["y"] - targets["y_target"]) ** 2).mean()}

    def get_user_callbacks(self, model: Any, evaluation: bool = False) -> list[CallbackBase]:
        context = self.callback_context_for(model)
        probes = [MetricScript(context, key, values) for key, values in self.values.items()]
        return [*probes, *super().get_user_callbacks(model, evaluation)]


def main(out_dir: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    values = {"custom/score": SCORE[rank], **({"custom/rank0": RANK0} if rank == 0 else {})}
    score = {"metric_key": "custom/score", "every_n_updates": 1}
    rank0 = {"metric_key": "custom/rank0", "every_n_updates": 1}
    config = MseTrainerConfig.model_validate(
        {
            "max_updates": 12,
            "effective_batch_size": 4,
            "forward_properties": ["x"],
            "target_properties": ["y_target"],
            "add_default_callbacks": False,
            "callbacks": [
                {"kind": "best_metric", **rank0},
                {"kind": "best_checkpoint", **rank0},
                {"kind": "metric_early_stopper", "patience": 2, **score},
            ],
        }
    )
    path = PathProvider(out_dir / "runs", "ranks", "run", reuse_existing=True, create=rank == 0)
    dist.barrier()
    trainer = ScriptedTrainer(
        config,
        DataContainer({"train": Points()}),
        "cpu",
        NoopTracker(NoopTrackerConfig()),
        path,
        values=values,
    )
    torch.manual_seed(0)
    model = LinearModel(LinearModelConfig(in_dim=3, fields=["y"], optimizer=sgd(0.001)))
    trainer.train(model)

    def find(cls: type) -> Any:
        return next(cb for cb in trainer.callbacks if isinstance(cb, cls))

    result = {
        "update": trainer.update_counter.update,
        "best_metric": [find(BestMetricCallback).best_value, find(BestMetricCallback).best_update],
        "best_checkpoint": find(BestCheckpointCallback).best_update,
        "stopper_best": find(MetricEarlyStopper).best_value,
    }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(result))
    end_rank()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
