"""A `noether-train` run against the plain PyTorch loop a user would write by hand with the
same seed, data order and settings: AdamW with weight decay off biases and norms, an lr scale,
both kinds of clipping, three micro-batches per update and a warm-up + cosine schedule. Same
weights at the end, and the lr of every update in metrics.jsonl is the hand loop's."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import torch

NOETHER_TRAIN = Path(sys.executable).parent / "noether-train"

SCHEMAS = """
from typing import ClassVar

from noether.config import BaseTrainerConfig, CallbackConfig, DatasetConfig, ModelConfig


class DataConfig(DatasetConfig):
    kind: str = "plain_data"
    target: ClassVar[str] = "plain_runtime:Data"


class NetConfig(ModelConfig):
    kind: str = "plain_net"
    target: ClassVar[str] = "plain_runtime:Net"


class MseConfig(BaseTrainerConfig[CallbackConfig]):
    kind: str = "plain_mse"
    target: ClassVar[str] = "plain_runtime:Mse"
"""

RUNTIME = """
import torch

from noether.core.models import ModelBase
from noether.core.trainer.base import BaseTrainer


def data():
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(64, 4, generator=generator)
    return x, (torch.sin(x @ torch.linspace(-1.0, 1.0, 4)) + 0.5).unsqueeze(-1)


def layers():
    generator = torch.Generator().manual_seed(7)
    body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Tanh())
    head = torch.nn.Linear(8, 1)
    with torch.no_grad():
        for param in [*body.parameters(), *head.parameters()]:
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return body, head


class Data(torch.utils.data.Dataset):
    def __init__(self, config):
        self.x, self.y = data()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return {"x": self.x[index], "y": self.y[index]}


class Net(ModelBase):
    def __init__(self, model_config):
        super().__init__(model_config)
        self.body, self.head = layers()

    def forward(self, x):
        return self.head(self.body(x))


class Mse(BaseTrainer):
    def loss_compute(self, forward_output, targets):
        return {"mse": torch.nn.functional.mse_loss(forward_output, targets["y"])}
"""

EXPERIMENT = """
name: plain
output_path: runs
seed: 5
device: cpu
num_threads: 1
datasets: {train: {kind: "plain_schemas:DataConfig"}}
model:
  kind: "plain_schemas:NetConfig"
  optimizer:
    kind: adamw
    lr: 0.02
    weight_decay: 0.1
    clip_grad_norm: 0.3
    clip_grad_value: 0.2
    lr_scale: {head: 0.5}
    schedule: {kind: linear_warmup_cosine_decay, warmup_percent: 0.25, end_value: 0.1}
trainer:
  kind: "plain_schemas:MseConfig"
  max_epochs: 2
  effective_batch_size: 8
  max_batch_size: 3
  forward_properties: [x]
  target_properties: [y]
  track_every_n_updates: 1
  callbacks: [{kind: checkpoint, every_n_epochs: 2}]
tracker: {kind: jsonl}
"""


def plain_loop(project: Path) -> tuple[dict[str, torch.Tensor], list[float]]:
    """What a user writes by hand: the sampler's permutation per epoch (seed + epoch), micro-
    batches of 3 + 3 + 2 weighted by their share, value then norm clipping, the schedule."""
    sys.path.insert(0, str(project))
    try:
        from plain_runtime import data, layers  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(project))
    x, y = data()
    body, head = layers()
    model = torch.nn.ModuleDict({"body": body, "head": head})
    decay = [body[0].weight]
    groups = [
        {"params": decay, "weight_decay": 0.1, "lr": 0.02},
        {"params": [body[0].bias, *body[1].parameters()], "weight_decay": 0.0, "lr": 0.02},
        {"params": [head.weight], "weight_decay": 0.1, "lr": 0.01},
        {"params": [head.bias], "weight_decay": 0.0, "lr": 0.01},
    ]
    peaks = [group["lr"] for group in groups]
    optimizer = torch.optim.AdamW(groups, lr=0.02, weight_decay=0.1)
    total, warmup = 16, 4  # 2 epochs of 64 // 8 updates; 0.25 of them warm up
    lrs = []
    for update in range(total):
        if update < warmup:
            factor = (update + 1) / warmup
        else:
            progress = (update - warmup) / (total - 1 - warmup)
            factor = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        for group, peak in zip(optimizer.param_groups, peaks, strict=True):
            group["lr"] = peak * factor
        lrs.append(0.02 * factor)
        epoch, position = divmod(update, 8)
        order = torch.randperm(64, generator=torch.Generator().manual_seed(5 + epoch))
        batch = order[position * 8 : position * 8 + 8].tolist()
        for start, size in ((0, 3), (3, 3), (6, 2)):
            index = batch[start : start + size]
            loss = torch.nn.functional.mse_loss(model["head"](model["body"](x[index])), y[index])
            (loss * size / 8).backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 0.2)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.3)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model.state_dict(), lrs


def test_a_run_trains_the_weights_and_lrs_of_the_plain_pytorch_loop(tmp_path: Path) -> None:
    (tmp_path / "plain_schemas.py").write_text(SCHEMAS)
    (tmp_path / "plain_runtime.py").write_text(RUNTIME)
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT)
    result = subprocess.run(
        [str(NOETHER_TRAIN), "experiment.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs" / "plain").iterdir()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [row["optim/lr"] for row in rows if "optim/lr" in row]
    weights = torch.load(run_dir / "checkpoints" / "E2_U16_S128" / "model.pt", weights_only=True)

    expected_weights, expected_lrs = plain_loop(tmp_path)
    assert logged == expected_lrs
    assert weights.keys() == expected_weights.keys()
    for key, value in expected_weights.items():
        torch.testing.assert_close(weights[key], value, rtol=1e-6, atol=1e-7, msg=key)
