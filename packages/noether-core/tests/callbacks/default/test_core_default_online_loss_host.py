"""Host (CPU) losses are read as numbers when logged: per-sample losses, NaN per name, and the
CPU peak memory, which is the process's whichever thread asks."""

from __future__ import annotations

import math
import threading

import torch

from noether.core.callbacks.default.online_loss import OnlineLossCallback
from noether.core.callbacks.default.peak_memory import peak_memory_mb
from noether.core.testing import CallbackHarness


def test_per_sample_cpu_losses_count_with_their_mean():
    h = CallbackHarness()
    callback = OnlineLossCallback(None, h.context, every_n_updates=2)
    h.step(callback, [{"total": torch.tensor([1.0, 3.0])}])  # mean 2
    h.step(callback, [{"total": torch.tensor([4.0, 8.0, 12.0])}])  # mean 8
    assert h.tracker.rows_with("loss/online/total") == {2: 5.0}


def test_a_name_with_only_non_finite_steps_logs_nan_and_others_keep_their_mean():
    h = CallbackHarness()
    callback = OnlineLossCallback(None, h.context, every_n_updates=2)
    h.step(callback, [{"a": torch.tensor(1.0), "b": torch.tensor(float("nan"))}])
    h.step(callback, [{"a": torch.tensor(5.0), "b": torch.tensor(float("inf"))}])
    h.step(callback, [{"a": torch.tensor(2.0), "b": torch.tensor(4.0)}])
    h.step(callback, [{"a": torch.tensor(2.0), "b": torch.tensor(6.0)}])
    assert h.tracker.rows_with("loss/online/a") == {2: 3.0, 4: 2.0}
    b = h.tracker.rows_with("loss/online/b")
    assert math.isnan(b[2]) and b[4] == 5.0
    assert math.isnan(h.tracker.rows_with("loss/online/total")[2])


def test_cpu_peak_read_on_another_thread_is_the_process_peak():
    buffer = torch.ones(64 * 1024 * 1024 // 4 * 3)  # 192 MiB, written so it is resident
    seen: list[float] = []
    reader = threading.Thread(target=lambda: seen.append(peak_memory_mb(torch.device("cpu"))))
    reader.start()
    reader.join()
    del buffer
    assert seen and seen[0] >= 192
