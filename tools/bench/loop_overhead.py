"""Loop overhead of BaseTrainer against a plain hand-written PyTorch loop (run by hand).

Both sides train the same MLP on the same dataset (items are dicts of tensors, batched by a
`DataLoader` without workers) with the same optimizer for the same number of updates. The
trainer runs with its default callbacks on and a real tracker (`jsonl` in a temporary folder,
or `noop`). Runs alternate between the sides in one process (the order rotates every round),
and medians are compared; `paired` is the median of the per-round ratios. Times are process
CPU time by default, which a busy shared machine disturbs less than wall time.

    uv run python tools/bench/loop_overhead.py                 # both workloads
    uv run python tools/bench/loop_overhead.py --workload A --repeats 9 --bare
    uv run python tools/bench/loop_overhead.py --tracker noop --clock wall
    uv run python tools/bench/loop_overhead.py --profile       # cProfile of the trainer on A

Workload A: MLP 32-64-64-1, 65,536 samples, batch 64, 1,024 updates (one epoch), one thread.
Workload B: MLP 256-1024-1024-256, batch 128, 128 updates (one epoch).
The last line is `ratio_vs_plain=<x>` for workload A (target: <= 1.05).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from noether.config import BaseTrainerConfig, CallbackConfig, ModelConfig
from noether.config.schemas.optimizer import AdamWConfig
from noether.config.schemas.tracker import JsonlTrackerConfig, TrackerConfig
from noether.core.data.container import DataContainer
from noether.core.models.base import ModelBase
from noether.core.runs import PathProvider
from noether.core.trackers.base import TrackerBase
from noether.core.trackers.jsonl import JsonlTracker
from noether.core.trackers.noop import NoopTracker
from noether.core.trainer.base import BaseTrainer

LR = 1e-3

CLOCKS: dict[str, Callable[[], float]] = {"process": time.process_time, "wall": time.perf_counter}
clock: Callable[[], float] = time.process_time
"""Process CPU time by default: on a shared machine it ignores time spent descheduled; with
one thread and no data workers it equals wall time on an idle machine (`--clock wall`)."""


@dataclass(frozen=True)
class Workload:
    """One benchmark setting."""

    name: str
    dims: tuple[int, ...]
    samples: int
    batch_size: int
    updates: int


WORKLOADS = {
    "A": Workload("A", (32, 64, 64, 1), samples=65_536, batch_size=64, updates=1_024),
    "B": Workload("B", (256, 1024, 1024, 256), samples=128 * 128, batch_size=128, updates=128),
}


class DictDataset(Dataset[dict[str, torch.Tensor]]):
    """Random regression pairs; items are `{"x": ..., "y": ...}` as noether expects."""

    def __init__(self, samples: int, in_dim: int, out_dim: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(samples, in_dim, generator=generator)
        self.y = torch.randn(samples, out_dim, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}


def build_mlp(dims: tuple[int, ...]) -> nn.Sequential:
    """Linear layers with GELU in between."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class BenchModelConfig(ModelConfig):
    """The MLP of the benchmark."""

    kind: str = "bench_loop_overhead_mlp"
    dims: tuple[int, ...]


class BenchModel(ModelBase):
    """`build_mlp(dims)` as a ModelBase."""

    def __init__(self, model_config: BenchModelConfig) -> None:
        super().__init__(model_config)
        self.net = build_mlp(model_config.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BenchTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Trainer config of the benchmark."""

    kind: str = "bench_loop_overhead_trainer"


class MseTrainer(BaseTrainer):
    """The seed's minimal trainer: only loss_compute."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return nn.functional.mse_loss(forward_output, targets["y"])


def make_model(workload: Workload) -> BenchModel:
    """The same model (class, weights) for both sides."""
    torch.manual_seed(0)
    return BenchModel(
        BenchModelConfig(dims=workload.dims, optimizer=AdamWConfig(lr=LR, weight_decay=0.0))
    )


def run_plain(workload: Workload, dataset: DictDataset) -> float:
    """Seconds of the hand-written loop (data loader, optimizer and all updates)."""
    model = make_model(workload)
    start = clock()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    loader = DataLoader(dataset, batch_size=workload.batch_size, shuffle=True, drop_last=True)
    model.train()
    done = 0
    while done < workload.updates:
        for batch in loader:
            loss = nn.functional.mse_loss(model(batch["x"]), batch["y"])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            if done == workload.updates:
                break
    return clock() - start


def make_tracker(kind: str) -> TrackerBase:
    if kind == "jsonl":
        return JsonlTracker(JsonlTrackerConfig())
    return NoopTracker(TrackerConfig(kind="noop"))


def run_trainer(
    workload: Workload,
    dataset: DictDataset,
    tracker_kind: str,
    output: Path,
    default_callbacks: bool = True,
) -> tuple[float, BaseTrainer]:
    """Seconds of BaseTrainer (construction and train), default callbacks on unless told."""
    model = make_model(workload)
    config = BenchTrainerConfig(
        max_updates=workload.updates,
        effective_batch_size=workload.batch_size,
        forward_properties=["x"],
        target_properties=["y"],
        add_default_callbacks=default_callbacks,
    )
    path_provider = PathProvider(output, f"bench_{workload.name}")
    tracker = make_tracker(tracker_kind)
    tracker.start(path_provider, {"benchmark": workload.name})
    start = clock()
    trainer = MseTrainer(config, DataContainer({"train": dataset}), "cpu", tracker, path_provider)
    trainer.train(model)
    seconds = clock() - start
    tracker.close()
    return seconds, trainer


@dataclass
class Result:
    """Seconds of each run per side: `plain`, `trainer` (defaults on), optionally `bare`."""

    workload: Workload
    runs: dict[str, list[float]]

    def median(self, side: str) -> float:
        return statistics.median(self.runs[side])

    @property
    def ratio(self) -> float:
        """Median trainer time over median plain time."""
        return self.median("trainer") / self.median("plain")

    def paired_ratio(self, side: str) -> float:
        """Median over rounds of side / plain within the same round (drift cancels)."""
        pairs = zip(self.runs[side], self.runs["plain"], strict=True)
        return statistics.median(a / b for a, b in pairs)

    def describe(self) -> str:
        per_update = 1e6 / self.workload.updates
        plain = self.median("plain")
        parts = [f"workload {self.workload.name} (medians of {len(self.runs['plain'])}):"]
        for side, values in self.runs.items():
            median = statistics.median(values)
            text = (
                f"  {side:8s} {median * 1e3:8.1f} ms = {median * per_update:7.1f} us/update "
                f"(min {min(values) * 1e3:.1f} ms)"
            )
            if side != "plain":
                text += (
                    f", overhead {(median - plain) * per_update:+.1f} us/update, "
                    f"ratio {median / plain:.3f} (paired {self.paired_ratio(side):.3f})"
                )
            parts.append(text)
        return "\n".join(parts)


def bench(workload: Workload, repeats: int, tracker_kind: str, output: Path, bare: bool) -> Result:
    """Warm-up once, then `repeats` interleaved rounds (the order rotates every round)."""
    dataset = DictDataset(workload.samples, workload.dims[0], workload.dims[-1])
    sides: dict[str, Callable[[], float]] = {
        "plain": lambda: run_plain(workload, dataset),
        "trainer": lambda: run_trainer(workload, dataset, tracker_kind, output)[0],
    }
    if bare:
        sides["bare"] = lambda: run_trainer(
            workload, dataset, tracker_kind, output, default_callbacks=False
        )[0]
    for run in sides.values():
        run()
    result = Result(workload, {side: [] for side in sides})
    names = list(sides)
    for repeat in range(repeats):
        shift = repeat % len(names)
        for side in names[shift:] + names[:shift]:
            result.runs[side].append(sides[side]())
    return result


def profile_trainer(workload: Workload, tracker_kind: str, output: Path, top: int) -> None:
    """cProfile of one trainer run, by own time and by cumulative time."""
    dataset = DictDataset(workload.samples, workload.dims[0], workload.dims[-1])
    run_trainer(workload, dataset, tracker_kind, output)
    profiler = cProfile.Profile()
    profiler.enable()
    run_trainer(workload, dataset, tracker_kind, output)
    profiler.disable()
    for sort in ("tottime", "cumulative"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(sort).print_stats(top)
        print(stream.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["A", "B", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved pairs per workload")
    parser.add_argument("--tracker", choices=["jsonl", "noop"], default="jsonl")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="process")
    parser.add_argument(
        "--bare", action="store_true", help="also time the trainer without default callbacks"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the trainer on A")
    parser.add_argument("--top", type=int, default=40, help="rows of the profile")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="noether-bench-") as tmp:
        output = Path(tmp)
        if args.profile:
            profile_trainer(WORKLOADS["A"], args.tracker, output, args.top)
            return 0
        names = ["B", "A"] if args.workload == "both" else [args.workload]
        results = [
            bench(WORKLOADS[name], args.repeats, args.tracker, output, args.bare) for name in names
        ]
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"tracker {args.tracker}, clock {args.clock}"
    )
    for result in results:
        print(result.describe())
    last = results[-1]
    print(f"ratio_vs_plain={last.ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
