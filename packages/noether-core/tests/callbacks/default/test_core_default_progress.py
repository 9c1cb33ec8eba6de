"""Progress: a log line per interval off a terminal, a live line with ETA on one."""

from __future__ import annotations

import io
import logging

import pytest

from noether.core.callbacks.default.progress import (
    ProgressCallback,
    TerminalProgressCallback,
    format_duration,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00:00"),
        (59.6, "0:01:00"),
        (3725, "1:02:05"),
        (90061, "1d 1:01:01"),
        (float("nan"), "?"),
        (float("inf"), "?"),
        (-1, "?"),
    ],
)
def test_durations_read_as_clock_times(seconds, text):
    assert format_duration(seconds) == text


def test_progress_line_gives_position_rate_and_eta(dkit):
    h = dkit.Harness(updates_per_epoch=10, max_updates=40)
    callback = ProgressCallback(None, h.context, every_n_updates=10)
    callback.before_training()
    start = callback._start_time
    for _ in range(10):
        h.counter.add_update()
    h.counter.add_epoch()
    line = callback.progress_line(now=start + 5.0)
    assert line == (
        "epoch 1/4 | update 10/40 (25.0%) | sample 40 | 2.00 updates/s | "
        "elapsed 0:00:05 | ETA 0:00:15"
    )


def test_eta_counts_only_updates_run_since_a_resume(dkit):
    h = dkit.Harness(updates_per_epoch=10, max_updates=100)
    h.counter.load_state_dict({"epoch": 5, "update": 50, "sample": 200})
    callback = ProgressCallback(None, h.context, every_n_updates=10)
    callback.before_training()
    for _ in range(10):
        h.counter.add_update()
    line = callback.progress_line(now=callback._start_time + 10.0)
    assert "update 60/100 (60.0%)" in line
    assert "1.00 updates/s" in line
    assert line.endswith("ETA 0:00:40")


def test_plain_output_logs_one_line_per_interval(dkit, caplog):
    h = dkit.Harness(updates_per_epoch=100, max_updates=6)
    callback = ProgressCallback(None, h.context, every_n_updates=3)
    caplog.set_level(logging.INFO, logger="ProgressCallback")
    callback.before_training()
    for _ in range(6):
        h.step(callback)
    lines = [r.getMessage() for r in caplog.records if r.name == "ProgressCallback"]
    assert [line.split(" | ")[1] for line in lines] == [
        "update 3/6 (50.0%)",
        "update 6/6 (100.0%)",
    ]
    assert all("ETA" in line for line in lines)


def test_terminal_line_is_redrawn_in_place_and_kept_at_each_interval(dkit):
    h = dkit.Harness(updates_per_epoch=100, max_updates=4)
    stream = io.StringIO()
    callback = TerminalProgressCallback(
        None, h.context, every_n_updates=2, stream=stream, refresh_seconds=0.0
    )
    callback.before_training()
    for _ in range(4):
        h.step(callback)
    callback.after_training()
    text = stream.getvalue()
    kept_lines = text.split("\n")
    assert kept_lines[-1] == ""
    # one committed line per log interval (updates 2 and 4) plus the final newline
    assert [line.rsplit("\r", 1)[-1].split(" | ")[1] for line in kept_lines[:2]] == [
        "update 2/4 (50.0%)",
        "update 4/4 (100.0%)",
    ]
    assert text.count("\r") >= 4  # redrawn at every update with refresh 0
    assert "\x1b[K" in text


def test_terminal_redraw_is_throttled(dkit):
    h = dkit.Harness(updates_per_epoch=1000, max_updates=1000)
    stream = io.StringIO()
    callback = TerminalProgressCallback(
        None, h.context, every_n_updates=1000, stream=stream, refresh_seconds=3600.0
    )
    callback.before_training()
    for _ in range(50):
        h.step(callback)
    assert stream.getvalue() == ""


def test_log_record_clears_the_live_line_before_it_is_written(dkit):
    h = dkit.Harness(updates_per_epoch=100, max_updates=10)
    stream = io.StringIO()
    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        callback = TerminalProgressCallback(
            None, h.context, every_n_updates=10, stream=stream, refresh_seconds=0.0
        )
        callback.before_training()
        h.step(callback)
        assert stream.getvalue().endswith("\x1b[K")  # the live line is on screen
        logging.getLogger("noether.test").warning("checkpoint saved")
        assert stream.getvalue().endswith("\x1b[K\r\x1b[K")  # wiped before the record
        assert "checkpoint saved" in log_stream.getvalue()
        h.step(callback)  # the next update redraws it
        assert stream.getvalue().rsplit("\r", 1)[-1].startswith("epoch")
        callback.after_training()
        assert callback._clear_live_line not in handler.filters
    finally:
        root.removeHandler(handler)
