"""Peak memory: the process's max RSS on CPU, logged in MiB."""

from __future__ import annotations

import resource
import sys

import pytest
import torch

from noether.core.callbacks.default.peak_memory import PeakMemoryCallback, peak_memory_mb
from noether.core.testing import CallbackHarness


@pytest.mark.skipif(sys.platform == "darwin", reason="ru_maxrss is in bytes on macOS")
def test_cpu_peak_is_the_max_rss_in_mib():
    h = CallbackHarness()
    callback = PeakMemoryCallback(None, h.context, every_n_updates=2)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    h.step(callback)
    h.step(callback)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    logged = h.tracker.rows_with("memory/peak_mb")
    assert list(logged) == [2]
    assert before <= logged[2] <= after
    assert logged[2] > 10  # a Python process with torch loaded uses well over 10 MiB


def test_peak_grows_when_a_large_buffer_is_touched():
    before = peak_memory_mb(torch.device("cpu"))
    buffer = torch.ones(64 * 1024 * 1024 // 4 * 3)  # 192 MiB, written so it is resident
    after = peak_memory_mb(torch.device("cpu"))
    del buffer
    assert after >= before
    assert after >= 192
