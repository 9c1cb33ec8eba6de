"""tools/bench/turn_taking.py: sides take turns one at a time, and errors surface."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

MODULE_PATH = Path(__file__).resolve().parents[1] / "tools" / "bench" / "turn_taking.py"


def load_turn_taking() -> ModuleType:
    spec = importlib.util.spec_from_file_location("turn_taking", MODULE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["turn_taking"] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


turn_taking = load_turn_taking()


class FakeModel:
    def __init__(self) -> None:
        self.on_forward: Callable[[], None] | None = None

    def __call__(self) -> None:
        if self.on_forward is not None:
            self.on_forward()


def counting_side(name: str, forwards: int, log: list[str], fail_at: int | None = None) -> object:
    model = FakeModel()

    def body() -> None:
        for i in range(forwards):
            if i == fail_at:
                raise RuntimeError(f"{name} failed")
            log.append(name)
            model()

    return turn_taking.Side(model, body)


def test_sides_run_one_block_at_a_time_in_ring_order() -> None:
    log: list[str] = []
    sides = [counting_side(name, 12, log) for name in "abc"]
    seconds = turn_taking.run_round(sides, 4, time.perf_counter)
    blocks = [log[i : i + 4] for i in range(0, len(log), 4)]
    assert [block[0] for block in blocks] == list("abc" * 3)
    assert all(len(set(block)) == 1 for block in blocks)
    # three full turns each, then the turn that ends the body
    assert [len(turns) for turns in seconds] == [4, 4, 4]
    assert all(value >= 0 for turns in seconds for value in turns)


def test_a_side_that_fails_lets_the_others_finish_then_raises() -> None:
    log: list[str] = []
    sides = [counting_side("a", 8, log), counting_side("b", 8, log, fail_at=5)]
    with pytest.raises(RuntimeError, match="b failed"):
        turn_taking.run_round(sides, 2, time.perf_counter)
    assert log.count("a") == 8
    assert log.count("b") == 5


def test_sum_of_turn_medians_takes_each_turns_median_over_rounds() -> None:
    rounds = [[1.0, 10.0], [3.0, 30.0], [2.0, 99.0]]
    assert turn_taking.sum_of_turn_medians(rounds) == pytest.approx(2.0 + 30.0)
    with pytest.raises(ValueError, match="number of turns"):
        turn_taking.sum_of_turn_medians([[1.0], [1.0, 2.0]])
