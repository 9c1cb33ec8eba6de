"""Trackers write what they are given: jsonl lines, TensorBoard events, nothing for noop."""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path

import pytest

from noether.config.schemas.tracker import (
    JsonlTrackerConfig,
    NoopTrackerConfig,
    TensorboardTrackerConfig,
)
from noether.core.runs import PathProvider
from noether.core.trackers import jsonl
from noether.core.trackers.jsonl import JsonlTracker, read_jsonl
from noether.core.trackers.noop import NoopTracker
from noether.core.trackers.tensorboard import TensorboardTracker


@pytest.fixture
def provider(tmp_path: Path) -> PathProvider:
    return PathProvider(tmp_path, "exp")


def test_jsonl_writes_one_row_per_log_with_counters(provider: PathProvider) -> None:
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {"name": "exp"})
    tracker.log({"loss/online/total": 0.5, "optim/lr": 1e-3}, update=10, epoch=1, sample=640)
    tracker.log({"loss/online/total": 0.25}, update=20, epoch=2, sample=1280)
    tracker.flush()
    rows = read_jsonl(provider.run_dir / "metrics.jsonl")
    assert rows == [
        {"update": 10, "epoch": 1, "sample": 640, "loss/online/total": 0.5, "optim/lr": 1e-3},
        {"update": 20, "epoch": 2, "sample": 1280, "loss/online/total": 0.25},
    ]
    tracker.close()


def test_jsonl_deleted_mid_run_is_said_and_written_again_from_there(
    provider: PathProvider, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {})
    tracker.log({"loss": 1.0}, update=1, epoch=0, sample=4)
    tracker.flush()
    path = provider.run_dir / "metrics.jsonl"
    path.unlink()  # by hand, or a cleanup script
    tracker.log({"loss": 0.5}, update=2, epoch=0, sample=8)
    tracker.close()
    assert [row["update"] for row in read_jsonl(path)] == [2]
    assert f"{path} was deleted or replaced while the run wrote to it" in caplog.text


def test_read_jsonl_leaves_out_a_last_row_cut_short(provider: PathProvider) -> None:
    """A run killed (or out of disk) while writing a row leaves part of it."""
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {"name": "exp"})
    tracker.log({"loss/online/total": 0.5}, update=1, epoch=0, sample=8)
    tracker.close()
    path = provider.run_dir / "metrics.jsonl"
    with path.open("a", encoding="utf-8") as file:
        file.write('{"update": 2, "epoch": 0, "sam')
    assert [row["update"] for row in read_jsonl(path)] == [1]
    path.write_text(path.read_text(encoding="utf-8") + 'ple": 16}\n', encoding="utf-8")
    assert [row["update"] for row in read_jsonl(path)] == [1, 2]


def test_read_jsonl_leaves_out_a_line_merged_by_a_cut_naming_it(
    provider: PathProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """`truncate` mid-run: the next write joins a cut row and a whole one on one line."""
    path = provider.run_dir / "metrics.jsonl"
    path.write_text(
        '{"update": 1, "loss": 1.0}\n{"update": 2, "sam{"update": 9, "loss": 0.1}\n'
        '{"update": 10, "loss": 0.05}\n',
        encoding="utf-8",
    )
    assert [row["update"] for row in read_jsonl(path)] == [1, 10]
    assert f"{path}:2: not a metrics row, left out" in caplog.text


def test_jsonl_lines_stay_valid_json_with_nan_and_summary_is_a_file(
    provider: PathProvider,
) -> None:
    tracker = JsonlTracker(JsonlTrackerConfig(filename="m.jsonl"))
    tracker.start(provider, {})
    tracker.log({"a": math.nan, "b": math.inf}, update=1, epoch=0, sample=8)
    tracker.summary({"best/loss": 0.1})
    tracker.summary({"time/total": 3.0})
    tracker.close()
    line = (provider.run_dir / "m.jsonl").read_text().strip()
    assert json.loads(line) == {"update": 1, "epoch": 0, "sample": 8, "a": "nan", "b": "inf"}
    summary = json.loads((provider.run_dir / "summary.json").read_text())
    assert summary == {"a": "nan", "b": "inf", "best/loss": 0.1, "time/total": 3.0}


def test_jsonl_summary_holds_the_last_value_of_every_metric_and_the_summary_values(
    provider: PathProvider,
) -> None:
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {})
    tracker.summary({"dataset/train/size": 64.0})
    tracker.log({"loss": 2.0, "optim/lr": 0.1}, update=1, epoch=0, sample=8)
    tracker.log({"loss": 1.0, "loss/val": 1.5}, update=2, epoch=0, sample=16)
    tracker.log({"loss": 0.5}, update=3, epoch=1, sample=24)
    tracker.close()
    summary = json.loads((provider.run_dir / "summary.json").read_text())
    assert summary == {"dataset/train/size": 64.0, "loss": 0.5, "optim/lr": 0.1, "loss/val": 1.5}


def test_jsonl_resumed_summary_starts_from_the_rows_up_to_the_checkpoint(
    provider: PathProvider,
) -> None:
    first = JsonlTracker(JsonlTrackerConfig())
    first.start(provider, {})
    first.summary({"dataset/train/size": 64.0})
    for update, loss in enumerate([4.0, 3.0, 2.0, 1.0], start=1):
        first.log({"loss": loss, f"only/{update}": 1.0}, update=update, epoch=0, sample=update)
    first.close()  # the interrupted run got to update 4; its checkpoint is update 2
    resumed = JsonlTracker(JsonlTrackerConfig())
    resumed.start(provider, {}, resumed_at=2)
    resumed.close()
    summary = json.loads((provider.run_dir / "summary.json").read_text())
    assert summary == {"dataset/train/size": 64.0, "loss": 3.0, "only/1": 1.0, "only/2": 1.0}
    assert [row["update"] for row in read_jsonl(provider.run_dir / "metrics.jsonl")] == [1, 2]


def test_jsonl_buffers_rows_until_the_flush_interval_a_summary_or_close(
    provider: PathProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = provider.run_dir / "metrics.jsonl"
    monkeypatch.setattr(jsonl, "FLUSH_SECONDS", 3600.0)
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {})
    tracker.log({"x": 1.0}, update=1, epoch=0, sample=1)
    tracker.log({"x": 2.0}, update=2, epoch=0, sample=2)
    assert path.read_text() == ""  # buffered, no write per row
    tracker.summary({"best/x": 1.0})  # a summary flushes the rows logged before it
    assert [row["x"] for row in read_jsonl(path)] == [1.0, 2.0]
    tracker.log({"x": 3.0}, update=3, epoch=0, sample=3)
    assert len(read_jsonl(path)) == 2
    monkeypatch.setattr(jsonl, "FLUSH_SECONDS", 0.0)
    tracker.log({"x": 4.0}, update=4, epoch=0, sample=4)  # the interval has passed: flushed
    assert [row["x"] for row in read_jsonl(path)] == [1.0, 2.0, 3.0, 4.0]
    monkeypatch.setattr(jsonl, "FLUSH_SECONDS", 3600.0)
    tracker.log({"x": 5.0}, update=5, epoch=0, sample=5)
    tracker.close()
    assert [row["x"] for row in read_jsonl(path)] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_jsonl_rows_of_a_tracker_never_closed_are_written_when_it_is_collected(
    provider: PathProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl, "FLUSH_SECONDS", 3600.0)
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {})
    tracker.log({"x": 1.0}, update=1, epoch=0, sample=1)
    del tracker
    gc.collect()
    assert read_jsonl(provider.run_dir / "metrics.jsonl") == [
        {"update": 1, "epoch": 0, "sample": 1, "x": 1.0}
    ]


def test_tracker_ignores_rows_after_close(provider: PathProvider) -> None:
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {})
    tracker.log({"x": 1.0}, update=1, epoch=0, sample=1)
    tracker.close()
    tracker.log({"x": 2.0}, update=2, epoch=0, sample=2)
    tracker.close()
    assert [row["x"] for row in read_jsonl(provider.run_dir / "metrics.jsonl")] == [1.0]


def test_tensorboard_writes_event_files_that_tensorboard_reads_back(
    provider: PathProvider,
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tracker = TensorboardTracker(TensorboardTrackerConfig())
    tracker.start(provider, {"name": "exp", "seed": 3})
    tracker.log({"loss/online/total": 2.0, "optim/lr": 0.1}, update=5, epoch=1, sample=40)
    tracker.log({"loss/online/total": 1.0}, update=10, epoch=2, sample=80)
    tracker.summary({"best/loss": 0.5})
    tracker.close()
    log_dir = provider.run_dir / "tensorboard"
    assert list(log_dir.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(log_dir))
    events.Reload()
    loss = events.Scalars("loss/online/total")
    assert [(e.step, e.value) for e in loss] == [(5, 2.0), (10, 1.0)]
    assert [(e.step, e.value) for e in events.Scalars("counters/sample")] == [(5, 40), (10, 80)]
    assert [(e.step, e.value) for e in events.Scalars("summary/best/loss")] == [(10, 0.5)]
    assert "config/text_summary" in events.Tags()["tensors"]


def test_tensorboard_that_cannot_start_names_its_folder(provider: PathProvider) -> None:
    (provider.run_dir / "tensorboard").write_text("a file where the folder goes")
    with pytest.raises(OSError) as raised:
        TensorboardTracker(TensorboardTrackerConfig()).start(provider, {"name": "exp"})
    assert str(raised.value).startswith("[Errno ")
    assert "TensorBoard events: " in str(raised.value)
    assert str(provider.run_dir / "tensorboard") in str(raised.value)


@pytest.mark.parametrize("resumes", [1, 2])
def test_tensorboard_resumed_from_one_checkpoint_holds_each_config_and_step_once(
    provider: PathProvider, resumes: int
) -> None:
    """Resumed once, the dashboards showed updates 3 and 4 twice: their accumulator takes the
    first session start it reads for the run's own, so the run's first file must hold one."""
    # the accumulator that TensorBoard serves its dashboards from (it purges text, too)
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    tracker = TensorboardTracker(TensorboardTrackerConfig())
    tracker.start(provider, {"name": "exp"})
    for update in range(1, 5):
        tracker.log({"loss": float(update)}, update=update, epoch=0, sample=update)
    tracker.close()
    same_folder = PathProvider(provider.output_path, "exp", provider.run_id, reuse_existing=True)
    for _ in range(resumes):  # from the checkpoint of update 2 (twice: killed in between)
        resumed = TensorboardTracker(TensorboardTrackerConfig())
        resumed.start(same_folder, {"name": "exp", "trainer": {"max_epochs": 4}}, resumed_at=2)
        for update in range(3, 5):
            resumed.log({"loss": float(update)}, update=update, epoch=0, sample=update)
        resumed.close()

    events = EventAccumulator(str(provider.run_dir / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    assert [e.step for e in events.Tensors("loss")] == list(range(1, 5))
    # the config of the run, and the resumed run's from its first own update on: once each
    assert [e.step for e in events.Tensors("config/text_summary")] == [0, 3]


def test_noop_tracker_writes_nothing(provider: PathProvider) -> None:
    tracker = NoopTracker(NoopTrackerConfig())
    tracker.start(provider, {})
    tracker.log({"x": 1.0}, update=1, epoch=0, sample=1)
    tracker.summary({"x": 1.0})
    tracker.close()
    assert list(provider.run_dir.iterdir()) == []
