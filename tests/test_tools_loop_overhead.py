"""tools/bench/loop_overhead.py --bounds and --run-updates: the sides with the NaN guard or the
online loss off really run without them, the long-run side logs at a long run's intervals,
and the bench times them alongside the others."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from noether.core.trackers.jsonl import read_jsonl
from noether.core.trainer.types import NonFiniteLossError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "bench"))
import loop_overhead
import loop_sides

TINY = loop_sides.Workload("T", (4, 8, 1), samples=64, batch_size=16, updates=8)


def tiny_dataset() -> loop_sides.DictDataset:
    return loop_sides.DictDataset(TINY.samples, TINY.dims[0], TINY.dims[-1])


def metric_rows(output: Path) -> list[dict[str, Any]]:
    """The metrics rows of the one run under `output`."""
    (metrics,) = output.glob("bench_T/*/metrics.jsonl")
    return read_jsonl(metrics)


def logged_keys(output: Path) -> set[str]:
    """Every key of the metrics rows of the one run under `output`."""
    return {key for row in metric_rows(output) for key in row}


def test_bounds_adds_the_sides_without_guard_and_online_loss(tmp_path):
    options = loop_overhead.Options(repeats=1, bare=True, bounds=True, turns=2)
    result = loop_overhead.bench(TINY, options, tmp_path)
    assert list(result.rounds) == [
        "plain",
        "trainer",
        "bare",
        "no_guard",
        "no_guard_loss",
        "bare_no_guard",
    ]
    for side in result.rounds:
        assert len(result.rounds[side]) == 1
        assert result.total(side) > 0
    assert "no_guard_loss" in result.describe()


def test_no_guard_side_trains_through_a_nan_target(tmp_path):
    dataset = tiny_dataset()
    dataset.y[3] = float("nan")
    guarded = loop_sides.trainer_side(TINY, dataset, "noop", tmp_path / "guarded")
    with pytest.raises(NonFiniteLossError):
        guarded.body()
    unguarded = loop_sides.trainer_side(TINY, dataset, "noop", tmp_path / "off", nan_guard=False)
    unguarded.body()
    assert any(not param.isfinite().all() for param in unguarded.model.parameters())


def test_no_guard_loss_side_logs_no_online_loss(tmp_path):
    for name, trainer_class in [
        ("with", loop_sides.MseTrainer),
        ("without", loop_sides.MseTrainerWithoutOnlineLoss),
    ]:
        side = loop_sides.trainer_side(
            TINY, tiny_dataset(), "jsonl", tmp_path / name, trainer_class=trainer_class
        )
        side.body()
        side.close()
    assert {"loss/online/total", "optim/lr"} <= logged_keys(tmp_path / "with")
    without = logged_keys(tmp_path / "without")
    assert "optim/lr" in without
    assert not any(key.startswith("loss/online/") for key in without)


def updates_with_online_loss(output: Path) -> list[int]:
    return [int(row["update"]) for row in metric_rows(output) if "loss/online/total" in row]


def test_run_updates_side_tracks_at_the_intervals_of_a_run_that_long(tmp_path):
    # TINY's own 8 updates track every update; a run of 2,000 tracks every 4 (1/500)
    for name, run_updates in [("own", 0), ("long", 2_000)]:
        side = loop_sides.trainer_side(
            TINY, tiny_dataset(), "jsonl", tmp_path / name, run_updates=run_updates
        )
        side.body()
        side.close()
    assert updates_with_online_loss(tmp_path / "own") == list(range(1, 9))
    assert updates_with_online_loss(tmp_path / "long") == [4, 8]


def test_run_updates_adds_the_long_run_side(tmp_path):
    options = loop_overhead.Options(repeats=1, run_updates=2_000, turns=2)
    result = loop_overhead.bench(TINY, options, tmp_path)
    assert list(result.rounds) == ["plain", "trainer", "long_run"]
    assert result.total("long_run") > 0
    assert "long_run" in result.describe()


def test_negative_run_updates_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        loop_overhead.main(["--run-updates", "-1"])
    assert exit_info.value.code == 2
    assert "--run-updates must be >= 0" in capsys.readouterr().err
