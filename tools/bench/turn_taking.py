"""Turn-taking timing for benchmarks on a shared machine: sides of a round run at once,
one at a time, switching every few updates, so slow phases of the host hit all of them.

Used by `loop_overhead.py` (see its docstring for why and what was measured).
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Ticking(Protocol):
    """A model that calls `on_forward` (when set) at each forward call."""

    on_forward: Callable[[], None] | None


@dataclass
class Side:
    """One side of a round: a fresh model, the timed body, and untimed clean-up."""

    model: Ticking
    body: Callable[[], None]
    close: Callable[[], None] = lambda: None


@dataclass
class Turns:
    """Lets the sides of a round run one at a time, in a ring, for `updates_per_turn` each."""

    count: int
    updates_per_turn: int
    clock: Callable[[], float]
    gates: list[threading.Semaphore] = field(init=False)
    finished: list[bool] = field(init=False)
    turn_seconds: list[list[float]] = field(init=False)
    errors: list[BaseException] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.gates = [threading.Semaphore(0) for _ in range(self.count)]
        self.finished = [False] * self.count
        self.turn_seconds = [[] for _ in range(self.count)]

    def hand_over(self, index: int) -> None:
        """Wakes the next side in the ring that has not finished (none: nothing to do)."""
        for step in range(1, self.count + 1):
            other = (index + step) % self.count
            if not self.finished[other]:
                self.gates[other].release()
                return

    def play(self, index: int, side: Side) -> None:
        """The thread of one side: waits for its turns, trains, records each turn's time."""
        clock, seconds = self.clock, self.turn_seconds[index]
        gate, per_turn = self.gates[index], self.updates_per_turn
        forwards = 0
        gate.acquire()
        started = clock()

        def on_forward() -> None:
            nonlocal forwards, started
            forwards += 1
            if forwards % per_turn == 0:
                seconds.append(clock() - started)
                self.hand_over(index)
                gate.acquire()
                started = clock()

        side.model.on_forward = on_forward
        try:
            side.body()
        except BaseException as error:  # reported by the round, after every side ended
            self.errors.append(error)
        finally:
            seconds.append(clock() - started)
            self.finished[index] = True
            self.hand_over(index)


def run_round(
    sides: list[Side], updates_per_turn: int, clock: Callable[[], float]
) -> list[list[float]]:
    """Every side once, taking turns; the seconds of each side's turns."""
    gc.collect()
    turns = Turns(len(sides), updates_per_turn, clock)
    threads = [
        threading.Thread(target=turns.play, args=(i, side), daemon=True)
        for i, side in enumerate(sides)
    ]
    for thread in threads:
        thread.start()
    turns.gates[0].release()
    for thread in threads:
        thread.join()
    for side in sides:
        side.close()
    if turns.errors:
        raise turns.errors[0]
    return turns.turn_seconds


def sum_of_turn_medians(rounds: list[list[float]]) -> float:
    """Median over rounds of each turn, summed: a turn disturbed in a few rounds drops out,
    every turn's own cost stays in."""
    lengths = {len(turns) for turns in rounds}
    if len(lengths) != 1:
        raise ValueError(f"rounds differ in their number of turns: {sorted(lengths)}")
    return sum(statistics.median(values) for values in zip(*rounds, strict=True))


def pin_to_one_cpu(cpu: int | None) -> int | str:
    """Pins this process (and the threads it starts) to `cpu`, by default the last CPU it may
    use; where affinity cannot be set (not Linux), nothing is pinned."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if cpu is None else cpu
    if chosen not in allowed:
        raise SystemExit(f"--cpu {chosen}: this process may only use CPUs {allowed}")
    os.sched_setaffinity(0, {chosen})
    return chosen
