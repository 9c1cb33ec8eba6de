"""Stopwatch: elapsed wall time over start/stop intervals, or time measured elsewhere."""

from __future__ import annotations

import time

import pytest

from noether.core.stopwatch import Stopwatch


def test_intervals_add_up():
    watch = Stopwatch()
    assert not watch.is_running
    watch.start()
    assert watch.is_running
    time.sleep(0.01)
    first = watch.stop()
    assert first >= 0.01
    with watch:
        time.sleep(0.01)
    assert watch.elapsed_seconds >= first + 0.01
    assert watch.elapsed_milliseconds == pytest.approx(watch.elapsed_seconds * 1e3)


def test_time_measured_elsewhere_is_held_and_added():
    watch = Stopwatch(0.5)
    watch.add(0.25)
    assert watch.elapsed_seconds == 0.75
    assert float(watch) == 0.75
    assert repr(watch) == "Stopwatch(0.750000 s)"


def test_starting_twice_or_stopping_a_stopped_watch_is_an_error():
    watch = Stopwatch().start()
    with pytest.raises(RuntimeError, match="already running"):
        watch.start()
    watch.stop()
    with pytest.raises(RuntimeError, match="not running"):
        watch.stop()


def test_no_per_instance_dict():
    with pytest.raises(AttributeError):
        Stopwatch().other = 1  # type: ignore[attr-defined]
