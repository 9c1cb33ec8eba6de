"""Loop overhead of BaseTrainer against a plain hand-written PyTorch loop (run by hand).

Both sides train the same MLP on the same dataset (items are dicts of tensors, batched by a
`DataLoader` without workers) with the same optimizer for the same number of updates. The
plain loop iterates torch's `DataLoader`; the trainer its own `RunDataLoader` (the same
batches, fetched and collated without torch's per-batch bookkeeping, counted here as part of
the trainer, as a user would see it). The
trainer runs with its default callbacks on and a real tracker (`jsonl` in a temporary folder,
or `noop`); `--bare` adds the trainer without default callbacks, and `--control` a second
plain loop: its ratio to the first shows how finely this run can tell sides apart.
`--bounds` adds the trainer with parts of its default path switched off (`no_guard`:
`stop_on_nan_loss: false`; `no_guard_loss`: also without the online-loss callbacks; with
`--bare`, `bare_no_guard`): what removing those parts would gain at most.
`--run-updates N` adds `long_run`: the trainer whose default callbacks log and track at the
intervals they choose in a run of N updates. In the bench's own 1,024 updates of A they
track every 2 updates (1/500 of the run: a row to the tracker, the losses and the NaN guard's
sum read on the host); in a run of 100,000, every 200, and the per-update cost is left.

Measuring a few percent on a shared virtual machine: whole runs of the same loop vary by
10-25 % here from one second to the next, more than the difference being measured. So:

- The sides of a round run at the same time, taking turns: each side is a thread that
  trains for a block of updates (1/32 of the run), hands over to the next side and waits
  (one side runs at a time). Slow phases of the host hit every side alike.
- A side's time is the sum of its turns (set-up and tear-down included) on the thread's CPU
  clock (`--clock wall` for wall time). Turns are counted at the model's forward.
- The process is pinned to one CPU (`--cpu`, default the last one it may use): identical
  sides that the scheduler kept on different virtual CPUs differed by up to 20 % within a
  round; pinned (and with the orders below), `--control` lands within 1 % of plain.
- A full garbage collection runs before each round, so no side pays for walking the garbage
  of earlier rounds (~180 ms with torch imported: a fifth of a run of A).
- Each round runs the sides in another order (all permutations, shuffled once): with a
  fixed ring, a side that always followed the same other side was off by 2-3 %.

Per side, the medians over rounds of each turn, summed, give its time (a turn disturbed in
a few rounds drops out); `ratio_vs_plain` is trainer over plain from these sums, and
`paired` is the median over rounds of the per-round ratios.

`--lightning` adds two PyTorch Lightning sides (`lightning_sides.py`; lightning is in the
workspace's dev group): `pl_bare` (no logger, progress bar or checkpoints) and `pl_default`
(Lightning's progress bar, CSV logger and `self.log` of the loss).

    uv run python tools/bench/loop_overhead.py                 # both workloads
    uv run python tools/bench/loop_overhead.py --workload A --bare --control
    uv run python tools/bench/loop_overhead.py --workload A --bare --bounds
    uv run python tools/bench/loop_overhead.py --workload A --bare --run-updates 100000
    uv run python tools/bench/loop_overhead.py --tracker noop --clock wall
    uv run python tools/bench/loop_overhead.py --profile       # cProfile of the trainer on A
    uv run python tools/bench/loop_overhead.py --lightning 2>/dev/null  # + Lightning sides

Workload A: MLP 32-64-64-1, 65,536 samples, batch 64, 1,024 updates (one epoch), one thread.
Workload B: MLP 256-1024-1024-256, batch 128, 128 updates (one epoch).
The last line is `ratio_vs_plain=<x>` for workload A (target: <= 1.05).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lightning_sides import MISSING, find_lightning, lightning_makers
from loop_sides import (
    LR,
    WORKLOADS,
    DictDataset,
    MseTrainerWithoutOnlineLoss,
    Workload,
    make_model,
    plain_side,
    trainer_side,
)
from turn_taking import Side, pin_to_one_cpu, run_round, sum_of_turn_medians

TURNS_PER_RUN = 32
CLOCKS: dict[str, Callable[[], float]] = {"thread": time.thread_time, "wall": time.perf_counter}


@dataclass
class Result:
    """The turn times of each side per round: `plain`, `trainer` and those the options add."""

    workload: Workload
    rounds: dict[str, list[list[float]]]

    def total(self, side: str) -> float:
        """Seconds of one run of `side` (sum of the per-turn medians)."""
        return sum_of_turn_medians(self.rounds[side])

    @property
    def ratio(self) -> float:
        """Trainer over plain."""
        return self.total("trainer") / self.total("plain")

    def paired_ratio(self, side: str) -> float:
        """Median over rounds of side / plain within the same round."""
        pairs = zip(self.rounds[side], self.rounds["plain"], strict=True)
        return statistics.median(sum(a) / sum(b) for a, b in pairs)

    def describe(self) -> str:
        per_update = 1e6 / self.workload.updates
        plain = self.total("plain")
        parts = [f"workload {self.workload.name} ({len(self.rounds['plain'])} rounds):"]
        for side in self.rounds:
            total = self.total(side)
            runs = [sum(turns) for turns in self.rounds[side]]
            text = (
                f"  {side:13s} {total * 1e3:8.1f} ms = {total * per_update:7.1f} us/update "
                f"(runs: min {min(runs) * 1e3:.1f}, max {max(runs) * 1e3:.1f} ms)"
            )
            if side != "plain":
                text += (
                    f", overhead {(total - plain) * per_update:+.1f} us/update, "
                    f"ratio {total / plain:.3f} (paired {self.paired_ratio(side):.3f})"
                )
            parts.append(text)
        return "\n".join(parts)


@dataclass(frozen=True)
class Options:
    """What a benchmark run times and how (the command line's flags)."""

    repeats: int = 15
    tracker: str = "jsonl"
    bare: bool = False
    control: bool = False
    clock: str = "thread"
    turns: int = TURNS_PER_RUN
    lightning: bool = False
    bounds: bool = False
    run_updates: int = 0


def bench(workload: Workload, options: Options, output: Path) -> Result:
    """A warm-up round, then `options.repeats` rounds, each in another order of the sides
    (every permutation in turn, shuffled once), so who starts and who follows whom varies."""
    dataset = DictDataset(workload.samples, workload.dims[0], workload.dims[-1])
    trainer = functools.partial(trainer_side, workload, dataset, options.tracker, output)
    makers: dict[str, Callable[[], Side]] = {
        "plain": lambda: plain_side(workload, dataset),
        "trainer": trainer,
    }
    if options.bare:
        makers["bare"] = functools.partial(trainer, default_callbacks=False)
    if options.bounds:
        makers["no_guard"] = functools.partial(trainer, nan_guard=False)
        makers["no_guard_loss"] = functools.partial(
            trainer, nan_guard=False, trainer_class=MseTrainerWithoutOnlineLoss
        )
        if options.bare:
            makers["bare_no_guard"] = functools.partial(
                trainer, default_callbacks=False, nan_guard=False
            )
    if options.run_updates:
        makers["long_run"] = functools.partial(trainer, run_updates=options.run_updates)
    if options.control:
        makers["control"] = lambda: plain_side(workload, dataset)
    pl = find_lightning() if options.lightning else None
    if pl is not None:
        makers |= lightning_makers(
            pl,
            lambda: make_model(workload),
            dataset,
            batch_size=workload.batch_size,
            updates=workload.updates,
            lr=LR,
            output=output,
        )
    names = list(makers)
    per_turn = max(1, workload.updates // options.turns)
    result = Result(workload, {name: [] for name in names})
    orders = list(itertools.permutations(names))
    random.Random(0).shuffle(orders)
    for repeat in range(-1, options.repeats):
        order = list(orders[max(repeat, 0) % len(orders)])
        turns = run_round([makers[name]() for name in order], per_turn, CLOCKS[options.clock])
        if repeat >= 0:
            for name, seconds in zip(order, turns, strict=True):
                result.rounds[name].append(seconds)
    return result


def profile_trainer(workload: Workload, tracker_kind: str, output: Path, top: int) -> None:
    """cProfile of one trainer run, by own time and by cumulative time."""
    dataset = DictDataset(workload.samples, workload.dims[0], workload.dims[-1])
    trainer_side(workload, dataset, tracker_kind, output).body()
    side = trainer_side(workload, dataset, tracker_kind, output)
    profiler = cProfile.Profile()
    profiler.enable()
    side.body()
    profiler.disable()
    side.close()
    for sort in ("tottime", "cumulative"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(sort).print_stats(top)
        print(stream.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["A", "B", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=15, help="rounds per workload")
    parser.add_argument("--tracker", choices=["jsonl", "noop"], default="jsonl")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="thread")
    parser.add_argument(
        "--bare", action="store_true", help="also time the trainer without default callbacks"
    )
    parser.add_argument(
        "--control", action="store_true", help="also time a second plain loop (noise floor)"
    )
    parser.add_argument(
        "--bounds",
        action="store_true",
        help="also time the trainer without the NaN guard and without the online loss",
    )
    parser.add_argument(
        "--run-updates",
        type=int,
        default=0,
        metavar="N",
        help="also time the trainer whose default callbacks log and track as in a run of N "
        "updates (long_run)",
    )
    parser.add_argument(
        "--turns", type=int, default=TURNS_PER_RUN, help="turns each side takes per run"
    )
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin the process to")
    parser.add_argument(
        "--lightning", action="store_true", help="also time PyTorch Lightning, bare and default"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the trainer on A")
    parser.add_argument("--top", type=int, default=40, help="rows of the profile")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.run_updates < 0:
        parser.error("--run-updates must be >= 0")
    if args.lightning and find_lightning() is None:
        print(MISSING, file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    cpu = pin_to_one_cpu(args.cpu)
    with tempfile.TemporaryDirectory(prefix="noether-bench-") as tmp:
        output = Path(tmp)
        if args.profile:
            profile_trainer(WORKLOADS["A"], args.tracker, output, args.top)
            return 0
        names = ["B", "A"] if args.workload == "both" else [args.workload]
        options = Options(
            repeats=args.repeats,
            tracker=args.tracker,
            bare=args.bare,
            control=args.control,
            clock=args.clock,
            turns=args.turns,
            lightning=args.lightning,
            bounds=args.bounds,
            run_updates=args.run_updates,
        )
        results = [bench(WORKLOADS[name], options, output) for name in names]
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"tracker {args.tracker}, clock {args.clock}, cpu {cpu}"
    )
    if args.run_updates:
        print(f"long_run: default callbacks log and track as in a {args.run_updates:,}-update run")
    for result in results:
        print(result.describe())
    print(f"ratio_vs_plain={results[-1].ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
