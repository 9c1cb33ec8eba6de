"""Throughput of BaseTrainer against a plain PyTorch loop on the same GPU (or CPU), one process.

Both sides train the same network on the same data with the same optimizer, precision and
compilation. The plain loop is what a careful user writes by hand: torch's `DataLoader`
(pinned memory on CUDA), `.to(device, non_blocking=True)`, autocast for bfloat16,
`torch.compile` for the compiled variant. The trainer runs with its default callbacks and a
jsonl tracker (`--tracker noop` for none), as a user would see it. Its default callbacks
log and track at the intervals they choose in a run of `--run-updates` updates (100,000 by
default: track every 200, log every 1,000), not of the bench's own few updates, where they
would read the device every update or two.

The sides take turns (`turn_taking.py`, as in `loop_overhead.py`): each side is a thread
that trains for a block of updates, then hands over. On CUDA, a turn boundary synchronises
the device and records a CUDA event, and turns are timed between events; between two
boundaries nothing synchronises, so each side keeps the GPU queue as full as it can. On CPU
turns are timed with `perf_counter`. Only the steady state counts: the first turn (set-up,
first updates, compilation in the warm-up round) and the last (tear-down) are left out, so
every counted turn has the same number of updates. Per side, the medians over rounds of
each counted turn, summed, give its time per update. The process is pinned to one CPU
(`--cpu`; `--no-pin` leaves it free) on a GPU as well: there both sides are bound by the
host, and a thread moved between CPUs times differently. `--control` adds a second plain
loop, whose ratio to the first shows how finely a run tells sides apart.

Workloads: A (MLP 32-64-64-1, batch 64: launch bound), B (MLP 256-1024-1024-256, batch 128)
and T (a point-cloud transformer: 65,536 points per cloud, 2 clouds per batch, patches of 64
points, 6 layers of width 256, about 5 M parameters). Variants: fp32, bf16 (autocast) and
bf16-compiled (torch.compile, default mode). Targets: time per update <= 1.05x the plain
loop's on A; throughput >= 0.98x on B and T.

    uv run python tools/bench/gpu_throughput.py                    # CUDA, every workload
    uv run python tools/bench/gpu_throughput.py --workload T --variants bf16,bf16-compiled
    uv run python tools/bench/gpu_throughput.py --device cpu --tiny  # seconds; kept by CI
    uv run python tools/bench/gpu_throughput.py --bare --control   # + trainer, no callbacks;
                                                                   # + a second plain loop
    uv run python tools/bench/gpu_throughput.py --profile 25       # cProfile of each side
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import itertools
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from noether.config.schemas.optimizer import AdamWConfig
from noether.core.data.container import DataContainer
from noether.core.runs import PathProvider

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_workloads import (
    TARGETS,
    VARIANTS,
    GpuBenchModel,
    GpuBenchModelConfig,
    PooledDataset,
    Variant,
    Workload,
    parameter_count,
    workloads,
)
from loop_sides import BenchTrainerConfig, MseTrainer, at_run_intervals, make_tracker
from turn_taking import Side, pin_to_one_cpu, run_round

LR = 1e-4


class CudaEventClock:
    """Seconds since the clock was made, read at a turn boundary: synchronises the device,
    then records an event and times it against the first one."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.origin = self._event()

    def _event(self) -> torch.cuda.Event:
        torch.cuda.synchronize(self.device)
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        event.synchronize()
        return event

    def __call__(self) -> float:
        return self.origin.elapsed_time(self._event()) / 1e3


def make_model(workload: Workload, device: torch.device) -> GpuBenchModel:
    """The same network (class and initial weights) for every side, on the device."""
    torch.manual_seed(0)
    config = GpuBenchModelConfig(
        workload=workload.name, optimizer=AdamWConfig(lr=LR, weight_decay=0.0)
    )
    return GpuBenchModel(config, workload).to(device)


def plain_side(
    workload: Workload, dataset: PooledDataset, device: torch.device, variant: Variant
) -> Callable[[], Side]:
    """A maker of plain-loop sides; the model (and its compiled form) is built once and kept
    over rounds, so compilation happens in the warm-up round only."""
    model = make_model(workload, device)
    net: nn.Module = torch.compile(model) if variant.compile else model  # type: ignore[assignment]
    cuda = device.type == "cuda"

    def body() -> None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
        loader = DataLoader(
            dataset,
            batch_size=workload.batch_size,
            shuffle=True,
            drop_last=True,
            pin_memory=cuda,
        )
        autocast: Callable[[], contextlib.AbstractContextManager[object]] = (
            (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
            if variant.precision == "bfloat16"
            else contextlib.nullcontext
        )
        model.train()
        for batch in loader:
            x = batch["x"].to(device, non_blocking=True)
            y = batch["y"].to(device, non_blocking=True)
            with autocast():
                loss = nn.functional.mse_loss(net(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return lambda: Side(model, body)


def trainer_side(
    workload: Workload,
    dataset: PooledDataset,
    device: torch.device,
    variant: Variant,
    tracker_kind: str,
    output: Path,
    run_updates: int,
    default_callbacks: bool = True,
) -> Callable[[], Side]:
    """A maker of trainer sides (default callbacks on unless told); the model is kept over
    rounds, the trainer is built in each side's timed body, its tracker outside the timing.
    With `run_updates`, the default callbacks log and track at the intervals of a run that
    long, not of the bench's few updates (0: the bench's own length)."""
    model = make_model(workload, device)
    config = BenchTrainerConfig(
        max_updates=workload.updates,
        effective_batch_size=workload.batch_size,
        forward_properties=["x"],
        target_properties=["y"],
        precision=variant.precision,  # type: ignore[arg-type]
        use_torch_compile=variant.compile,
        add_default_callbacks=default_callbacks,
    )
    config = at_run_intervals(config, run_updates)
    data = DataContainer({"train": dataset})

    def make() -> Side:
        path_provider = PathProvider(output, f"gpu_{workload.name}_{variant.name}")
        tracker = make_tracker(tracker_kind)
        tracker.start(path_provider, {"benchmark": workload.name})

        def body() -> None:
            MseTrainer(config, data, device, tracker, path_provider).train(model)

        return Side(model, body, tracker.close)

    return make


@dataclass
class Row:
    """The counted turns of each side over the rounds of one workload and variant."""

    workload: Workload
    variant: Variant
    per_turn: int
    rounds: dict[str, list[list[float]]]

    def seconds_per_update(self, side: str) -> float:
        """Sum over counted turns of the median over rounds, per update."""
        turns = list(zip(*self.rounds[side], strict=True))
        return sum(statistics.median(t) for t in turns) / (len(turns) * self.per_turn)

    def ratio(self, side: str = "trainer") -> float:
        """Time per update, `side` over plain."""
        return self.seconds_per_update(side) / self.seconds_per_update("plain")

    def line(self) -> str:
        plain = self.seconds_per_update("plain") * 1e6
        trainer = self.seconds_per_update("trainer") * 1e6
        ratio = self.ratio()
        kind, bound = TARGETS[self.workload.name]
        value = ratio if kind == "time" else 1 / ratio
        met = value <= bound if kind == "time" else value >= bound
        target = f"{kind} {'<=' if kind == 'time' else '>='} {bound:.2f}"
        optional = " ".join(
            f"{self.ratio(side):10.3f}" if side in self.rounds else f"{'-':>10s}"
            for side in ("bare", "control")
        )
        return (
            f"{self.workload.name:8s} {self.variant.name:14s} {plain:11.1f} {trainer:11.1f} "
            f"{ratio:11.3f} {1 / ratio:11.3f} {optional}   {target:18s} "
            f"{'yes' if met else 'NO'}"
        )


HEADER = (
    f"{'workload':8s} {'variant':14s} {'plain us':>11s} {'trainer us':>11s} "
    f"{'time ratio':>11s} {'throughput':>11s} {'bare ratio':>10s} {'control':>10s}   "
    f"{'target':18s} met"
)


def side_makers(
    workload: Workload,
    variant: Variant,
    device: torch.device,
    args: argparse.Namespace,
    output: Path,
) -> dict[str, Callable[[], Side]]:
    """plain, trainer and, with `--control`, a second plain loop and, with `--bare`, the
    trainer without default callbacks."""
    dataset = PooledDataset(workload, workload.updates * workload.batch_size)
    tracker, run_updates = args.tracker, args.run_updates
    makers = {
        "plain": plain_side(workload, dataset, device, variant),
        "trainer": trainer_side(workload, dataset, device, variant, tracker, output, run_updates),
    }
    if args.control:
        makers["control"] = plain_side(workload, dataset, device, variant)
    if args.bare:
        makers["bare"] = trainer_side(
            workload, dataset, device, variant, tracker, output, run_updates, False
        )
    return makers


def bench(
    workload: Workload,
    variant: Variant,
    device: torch.device,
    args: argparse.Namespace,
    clock: Callable[[], float],
    output: Path,
) -> Row:
    """A warm-up round, then `args.repeats` rounds in alternating order."""
    makers = side_makers(workload, variant, device, args, output)
    per_turn = max(1, workload.updates // (args.turns or workload.turns))
    row = Row(workload, variant, per_turn, {name: [] for name in makers})
    orders = list(itertools.permutations(makers))
    random.Random(0).shuffle(orders)
    for repeat in range(-1, args.repeats):
        order = orders[max(repeat, 0) % len(orders)]
        turns = run_round([makers[name]() for name in order], per_turn, clock)
        if repeat >= 0:
            for name, seconds in zip(order, turns, strict=True):
                row.rounds[name].append(seconds[1:-1])
    return row


def profile(
    workload: Workload,
    variant: Variant,
    device: torch.device,
    args: argparse.Namespace,
    output: Path,
) -> None:
    """cProfile of one run of each side after a warm-up run, by own time: where a side's
    host time goes, to tell the trainer's extra time apart on a machine lent for minutes."""
    for name, make in side_makers(workload, variant, device, args, output).items():
        warm_up = make()
        warm_up.body()
        warm_up.close()
        side = make()
        with cProfile.Profile() as profiler:
            side.body()
        side.close()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(args.profile)
        print(f"== {workload.name} {variant.name} {name}: one run of {workload.updates} updates")
        print(stream.getvalue().strip(), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default_device, help="cuda, cuda:N or cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (seconds on CPU)")
    parser.add_argument("--workload", default="A,B,T", help="comma-separated: A, B, T")
    parser.add_argument(
        "--variants",
        default=None,
        help=f"comma-separated of {', '.join(VARIANTS)} (default: all on CUDA; no compiled "
        "variant on CPU, where compiling takes minutes)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 5; tiny 2)")
    parser.add_argument(
        "--turns",
        type=int,
        default=None,
        help="turns each side takes per run (default 16; 8 on T, whose updates are long)",
    )
    parser.add_argument("--tracker", choices=["jsonl", "noop"], default="jsonl")
    parser.add_argument(
        "--cpu", type=int, default=None, help="CPU to pin the process to (default: the last)"
    )
    parser.add_argument("--no-pin", action="store_true", help="leave the process unpinned")
    parser.add_argument(
        "--bare", action="store_true", help="also time the trainer without default callbacks"
    )
    parser.add_argument(
        "--control", action="store_true", help="also time a second plain loop (noise floor)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="ROWS",
        help="instead of timing, cProfile one run of each side and print its top ROWS functions",
    )
    parser.add_argument(
        "--run-updates",
        type=int,
        default=100_000,
        help="the trainer's default callbacks log and track as in a run of this many updates "
        "(default 100000: track every 200, log every 1000); 0: as in a run of the bench's own "
        "few updates (track every 1 or 2: a host read each time)",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.tiny else 5
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.run_updates < 0:
        parser.error("--run-updates must be >= 0")
    if args.variants is None:
        args.variants = "fp32,bf16" if args.device == "cpu" else ",".join(VARIANTS)
    for name in args.variants.split(","):
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}; use {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device here: use --device cpu --tiny")
        if device.index is None:  # set_device wants an index: plain "cuda" is the current one
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        clock: Callable[[], float] = CudaEventClock(device)
        where = f"{torch.cuda.get_device_name(device)}, clock: CUDA events"
    else:
        torch.set_num_threads(1)
        where = "1 thread, clock: perf_counter"
        clock = time.perf_counter
    # on a GPU too: both sides are bound by the host, and threads that the scheduler moves
    # between CPUs time differently (see loop_overhead.py)
    where = f"host cpu {'not pinned' if args.no_pin else pin_to_one_cpu(args.cpu)}, {where}"
    chosen = workloads(args.tiny)
    names = [name.strip() for name in args.workload.split(",")]
    print(f"torch {torch.__version__}, {where}, {args.repeats} rounds, tracker {args.tracker}")
    if args.run_updates:
        print(f"  trainer logs and tracks as in a run of {args.run_updates:,} updates")
    for name in names:
        workload = chosen[name]
        params = parameter_count(make_model(workload, torch.device("cpu")))
        print(
            f"  {name}: {workload.description}, batch {workload.batch_size}, "
            f"{params:,} parameters, {workload.updates} updates per run"
        )
    if not args.profile:
        print(HEADER)
    with tempfile.TemporaryDirectory(prefix="noether-gpu-bench-") as tmp:
        for name in names:
            for variant in args.variants.split(","):
                if args.profile:
                    profile(chosen[name], VARIANTS[variant], device, args, Path(tmp))
                    continue
                # a row as soon as it is measured: a run cut short still shows what it measured
                row = bench(chosen[name], VARIANTS[variant], device, args, clock, Path(tmp))
                print(row.line(), flush=True)
    if not args.profile:
        print(
            "time ratio: trainer / plain time per update; throughput: plain / trainer; "
            "bare ratio (--bare): the trainer without default callbacks / plain; control "
            "(--control): a second plain loop / plain, how finely this run tells sides apart"
        )
    if args.tiny:
        print("tiny sizes: this run checks that the benchmark works, its ratios mean little")
    # the sides' trainers, in reference cycles, go now, not during the interpreter's shutdown
    # after CUDA's: an H200 run of A ended with a segfault, one of B hung, after their rows
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
