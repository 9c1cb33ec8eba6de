"""Progress: a log line per interval; on a terminal also a live rich bar with ETA."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys

import pytest

from noether.core.callbacks.default.progress import (
    ProgressCallback,
    TerminalProgressCallback,
    format_duration,
)
from noether.core.testing import CallbackHarness


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


def test_progress_line_gives_position_rate_and_eta():
    h = CallbackHarness(updates_per_epoch=10, max_updates=40)
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


def test_eta_counts_only_updates_run_since_a_resume():
    h = CallbackHarness(updates_per_epoch=10, max_updates=100)
    h.counter.load_state_dict({"epoch": 5, "update": 50, "sample": 200})
    callback = ProgressCallback(None, h.context, every_n_updates=10)
    callback.before_training()
    for _ in range(10):
        h.counter.add_update()
    line = callback.progress_line(now=callback._start_time + 10.0)
    assert "update 60/100 (60.0%)" in line
    assert "1.00 updates/s" in line
    assert line.endswith("ETA 0:00:40")


def test_plain_output_logs_one_line_per_interval(caplog):
    h = CallbackHarness(updates_per_epoch=100, max_updates=6)
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


class FakeTerminal(io.StringIO):
    """What a terminal receives: rich draws on it as on a tty."""

    def isatty(self) -> bool:
        return True


ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
REDRAW = "\r\x1b[2K"  # rich: back to the line's start, erase it


def screen_lines(text: str) -> list[str]:
    """What stays on the screen: each line as last drawn, without colours."""
    return [ESCAPE.sub("", line.rsplit(REDRAW, 1)[-1]) for line in text.split("\n")]


def test_terminal_bar_is_redrawn_in_place_and_lines_are_logged_at_each_interval(caplog):
    h = CallbackHarness(updates_per_epoch=100, max_updates=4)
    screen = FakeTerminal()
    caplog.set_level(logging.INFO, logger="TerminalProgressCallback")
    callback = TerminalProgressCallback(
        None, h.context, every_n_updates=2, stream=screen, refresh_seconds=0.0
    )
    callback.before_training()
    for _ in range(4):
        h.step(callback)
    callback.after_training()
    text = screen.getvalue()
    assert text.count(REDRAW) >= 4  # redrawn at every update with refresh 0
    *_, bar, after = screen_lines(text)
    assert after == "\x1b[?25h" or after == ""  # the cursor is shown again
    assert "4/4" in bar and "100%" in bar and "updates/s" in bar
    assert "━" in bar  # rich's bar
    lines = [r.getMessage() for r in caplog.records if r.name == "TerminalProgressCallback"]
    assert [line.split(" | ")[1] for line in lines] == [
        "update 2/4 (50.0%)",
        "update 4/4 (100.0%)",
    ]


def test_terminal_redraw_is_throttled():
    h = CallbackHarness(updates_per_epoch=1000, max_updates=1000)
    screen = FakeTerminal()
    callback = TerminalProgressCallback(
        None, h.context, every_n_updates=1000, stream=screen, refresh_seconds=3600.0
    )
    callback.before_training()
    for _ in range(50):
        h.step(callback)
    assert screen.getvalue().count("updates/s") == 1  # drawn at the start only
    callback.after_training()
    assert "50/1000" in screen_lines(screen.getvalue())[-2]  # and once more at the end


def test_log_records_are_written_whole_above_the_bar():
    h = CallbackHarness(updates_per_epoch=100, max_updates=10)
    screen = FakeTerminal()
    handler = logging.StreamHandler(screen)
    root = logging.getLogger()
    root.addHandler(handler)
    message = "checkpoint saved to " + "/very/long/path" * 20  # wider than the terminal
    try:
        callback = TerminalProgressCallback(
            None, h.context, every_n_updates=10, stream=screen, refresh_seconds=0.0
        )
        callback.before_training()
        h.step(callback)
        logging.getLogger("noether.test").warning(message)
        h.step(callback)
        lines = screen_lines(screen.getvalue())
        assert message in lines  # one line, not wrapped, not glued to the bar
        below = lines[lines.index(message) + 1]
        assert "2/10" in below  # the bar comes back under it
        callback.after_training()
        assert handler.stream is screen  # the handler writes to the terminal again
    finally:
        root.removeHandler(handler)


def test_bar_is_taken_down_at_exit_when_training_ends_without_after_training(tmp_path):
    """An error skips after_training: the cursor still comes back when the process exits."""
    code = (
        "from noether.core.testing import CallbackHarness as Harness\n"
        "from noether.core.callbacks.default.progress import TerminalProgressCallback\n"
        "h = Harness(updates_per_epoch=10, max_updates=10)\n"
        "callback = TerminalProgressCallback(None, h.context, every_n_updates=5,"
        " refresh_seconds=0.0)\n"
        "callback.before_training()\n"
        "h.step(callback)\n"
        "raise SystemExit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "TTY_COMPATIBLE": "1"},  # rich treats the pipe as a terminal
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "\x1b[?25l" in done.stdout  # the bar hid the cursor
    assert done.stdout.endswith("\x1b[?25h")  # and showed it again at exit
    assert "1/10" in ESCAPE.sub("", done.stdout)
