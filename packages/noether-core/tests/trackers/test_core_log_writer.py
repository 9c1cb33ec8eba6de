"""LogWriter buffers scalars (tensors stay tensors) and flushes one row per call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from noether.config.schemas.tracker import JsonlTrackerConfig
from noether.core.runs import PathProvider
from noether.core.trackers.jsonl import JsonlTracker, read_jsonl
from noether.core.trackers.log_writer import LogWriter


@dataclass
class Counter:
    update: int
    epoch: int
    sample: int


def test_flush_sends_one_row_with_tensors_and_floats(tmp_path: Path) -> None:
    provider = PathProvider(tmp_path, "exp")
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {})
    writer = LogWriter(tracker)
    loss = torch.tensor(0.25, requires_grad=True) * 2
    writer.add_scalar("loss/online/total", loss)
    writer.add_scalar("optim/lr", 1e-3)
    writer.add_scalar("count", 3)
    assert isinstance(writer.pending["loss/online/total"], torch.Tensor)  # not converted yet
    row = writer.flush(Counter(update=4, epoch=1, sample=32))
    assert row == {"loss/online/total": 0.5, "optim/lr": 1e-3, "count": 3.0}
    assert writer.flush(Counter(update=5, epoch=1, sample=40)) == {}  # empty: no row
    writer.add_scalar("loss/online/total", torch.tensor([0.125]))
    writer.flush(Counter(update=6, epoch=1, sample=48))
    tracker.close()
    rows = read_jsonl(provider.run_dir / "metrics.jsonl")
    assert [r["update"] for r in rows] == [4, 6]
    assert rows[0]["loss/online/total"] == 0.5 and rows[0]["sample"] == 32
    assert writer.last_values == {"loss/online/total": 0.125, "optim/lr": 1e-3, "count": 3.0}


def test_later_value_of_a_key_replaces_the_buffered_one() -> None:
    from noether.config.schemas.tracker import NoopTrackerConfig
    from noether.core.trackers.noop import NoopTracker

    writer = LogWriter(NoopTracker(NoopTrackerConfig()))
    writer.add_scalar("x", 1.0)
    writer.add_scalar("x", torch.tensor(2.0))
    assert writer.flush(Counter(1, 0, 1)) == {"x": 2.0}


def test_non_scalar_tensor_is_rejected_with_its_key() -> None:
    from noether.config.schemas.tracker import NoopTrackerConfig
    from noether.core.trackers.noop import NoopTracker

    writer = LogWriter(NoopTracker(NoopTrackerConfig()))
    with pytest.raises(ValueError, match="loss/x"):
        writer.add_scalar("loss/x", torch.ones(3))


def test_add_summary_reaches_the_tracker(tmp_path: Path) -> None:
    provider = PathProvider(tmp_path, "exp")
    tracker = JsonlTracker(JsonlTrackerConfig())
    tracker.start(provider, {})
    writer = LogWriter(tracker)
    writer.add_summary("best/loss/val/total", torch.tensor(0.5))
    tracker.close()
    assert (provider.run_dir / "summary.json").read_text().count("0.5") == 1
    assert writer.summary_values == {"best/loss/val/total": 0.5}


def test_latest_values_overlay_the_current_row_on_flushed_values() -> None:
    from noether.config.schemas.tracker import NoopTrackerConfig
    from noether.core.trackers.noop import NoopTracker

    writer = LogWriter(NoopTracker(NoopTrackerConfig()))
    assert writer.latest_values() == {} and writer.get("loss") is None
    writer.add_scalar("loss", torch.tensor(4.0))
    writer.add_scalar("lr", 0.1)
    writer.flush(Counter(1, 0, 8))
    writer.add_scalar("loss", torch.tensor(2.0) * 1.5)  # buffered for the row of update 2
    assert writer.latest_values() == {"loss": 3.0, "lr": 0.1}
    assert writer.get("loss") == 3.0 and writer.get("lr") == 0.1
    assert writer.get("missing") is None
    assert writer.flush(Counter(2, 0, 16)) == {"loss": 3.0}  # reading did not drop the buffer
    assert writer.latest_values() == {"loss": 3.0, "lr": 0.1}
