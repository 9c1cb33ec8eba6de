"""Workloads of `gpu_throughput.py`: two MLPs and a point-cloud transformer, each with its
data (dicts `{"x", "y"}`), in a realistic size for a GPU and a tiny one for CI on CPU; the
precision variants both sides run in, and each workload's target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from loop_sides import build_mlp  # tools/bench is on sys.path (gpu_throughput.py)
from torch import nn
from torch.utils.data import Dataset

from noether.config import ModelConfig
from noether.core.models.base import ModelBase


@dataclass(frozen=True)
class Variant:
    """Precision and compilation of both sides."""

    name: str
    precision: str
    compile: bool


VARIANTS = {
    "fp32": Variant("fp32", "float32", False),
    "bf16": Variant("bf16", "bfloat16", False),
    "bf16-compiled": Variant("bf16-compiled", "bfloat16", True),
}
TARGETS = {"A": ("time", 1.05), "B": ("throughput", 0.98), "T": ("throughput", 0.98)}
"""Per workload: which ratio has a target, and the bound (time <=, throughput >=)."""


@dataclass(frozen=True)
class Workload:
    """One benchmark setting: the model, the batch and the number of updates per run."""

    name: str
    description: str
    batch_size: int
    updates: int
    in_shape: tuple[int, ...]
    """One sample's input (the dataset adds the batch dimension)."""
    out_shape: tuple[int, ...]
    """One sample's target."""
    model: dict[str, int | tuple[int, ...]]
    """Keyword arguments of the model (`dims` for an MLP, sizes for the transformer)."""
    turns: int = 16
    """Turns each side takes per run (the first and last are not counted); fewer for T,
    whose updates are long: each turn starts with the GPU's queue drained."""


def workloads(tiny: bool) -> dict[str, Workload]:
    """A, B and T (the transformer): the GPU sizes, or tiny ones that run in seconds on CPU."""
    if tiny:
        points, dim, layers, patch = 512, 32, 2, 32
        updates = {"A": 32, "B": 8, "T": 8}
        t_turns = 4
        b_dims: tuple[int, ...] = (64, 128, 128, 64)
    else:
        points, dim, layers, patch = 65_536, 256, 6, 64
        updates = {"A": 1_024, "B": 512, "T": 64}
        t_turns = 8
        b_dims = (256, 1024, 1024, 256)
    return {
        "A": Workload(
            "A", "MLP 32-64-64-1", 64, updates["A"], (32,), (1,), {"dims": (32, 64, 64, 1)}
        ),
        "B": Workload(
            "B",
            "MLP " + "-".join(map(str, b_dims)),
            128,
            updates["B"],
            (b_dims[0],),
            (b_dims[-1],),
            {"dims": b_dims},
        ),
        "T": Workload(
            "T",
            f"point-cloud transformer, {points:,} points, dim {dim}, {layers} layers",
            2,
            updates["T"],
            (points, 6),
            (points, 1),
            {"dim": dim, "layers": layers, "patch": patch, "in_dim": 6, "out_dim": 1},
            t_turns,
        ),
    }


class PooledDataset(Dataset[dict[str, torch.Tensor]]):
    """`length` items drawn from a small pool of random samples (item i is pool[i % pool]),
    so a run of big point clouds needs little host memory."""

    def __init__(self, workload: Workload, length: int, pool: int = 64) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(pool, *workload.in_shape, generator=generator)
        self.y = torch.randn(pool, *workload.out_shape, generator=generator)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index %= len(self.x)
        return {"x": self.x[index], "y": self.y[index]}


class PointCloudTransformer(nn.Module):
    """A point-cloud transformer in the style of patch-based surrogates: points are embedded,
    pooled into patches of `patch` neighbouring points (the cloud is taken as serialised, so
    neighbours are consecutive), a transformer runs on the patches, and each point's output
    comes from its embedding plus its patch's token."""

    def __init__(self, in_dim: int, out_dim: int, dim: int, layers: int, patch: int) -> None:
        super().__init__()
        self.patch = patch
        self.embed = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        layer = nn.TransformerEncoderLayer(
            dim,
            nhead=max(1, dim // 64),
            dim_feedforward=4 * dim,
            activation="gelu",
            batch_first=True,
            norm_first=True,
            dropout=0.0,
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, points, _ = x.shape
        features = self.embed(x)
        patches = features.view(batch, points // self.patch, self.patch, -1).mean(dim=2)
        tokens = self.blocks(patches)
        per_point = tokens.repeat_interleave(self.patch, dim=1)
        return self.head(features + per_point)


def build_network(workload: Workload) -> nn.Module:
    """The workload's network (an MLP, or the transformer for T)."""
    kwargs = workload.model
    if "dims" in kwargs:
        dims = kwargs["dims"]
        assert isinstance(dims, tuple)
        return build_mlp(dims)
    sizes = {key: value for key, value in kwargs.items() if isinstance(value, int)}
    return PointCloudTransformer(**sizes)


class GpuBenchModelConfig(ModelConfig):
    """The network of a `gpu_throughput.py` workload."""

    kind: str = "bench_gpu_throughput_model"
    workload: str


class GpuBenchModel(ModelBase):
    """A workload's network as a ModelBase; each forward ticks `on_forward` when set (outside
    any compiled region, so that torch.compile keeps the network as one graph)."""

    def __init__(self, model_config: GpuBenchModelConfig, workload: Workload) -> None:
        super().__init__(model_config)
        self.net = build_network(workload)
        self.on_forward: Callable[[], None] | None = None

    @torch.compiler.disable
    def tick(self) -> None:
        """Lets the turn-taking harness count the forward calls."""
        on_forward = self.on_forward
        if on_forward is not None:
            on_forward()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tick()
        return self.net(x)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
