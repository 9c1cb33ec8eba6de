"""Uneven gradient accumulation: the fewest micro-batches of at most max_batch_size, each loss
weighted by its share of the samples, give the weights of one batch of effective_batch_size,
in one process and over two gloo ranks."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

WORKER = Path(__file__).with_name("seed_uneven_accumulation.py")


@pytest.fixture
def train(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`train(effective_batch_size, max_batch_size, updates=3)` of the worker module."""
    monkeypatch.syspath_prepend(str(WORKER.parent))
    return importlib.import_module("seed_uneven_accumulation").train


@pytest.mark.parametrize(
    ("effective", "maximum", "sizes"), [(12, 8, [6, 6]), (7, 4, [4, 3]), (10, 3, [3, 3, 2, 2])]
)
def test_uneven_micro_batches_equal_one_full_batch(train, effective, maximum, sizes):
    whole, whole_sizes = train(effective, None)
    accumulated, seen = train(effective, maximum)
    assert whole_sizes == [effective] * 3
    assert seen == sizes * 3
    assert torch.allclose(accumulated, whole, atol=1e-6)
    start, _ = train(effective, None, updates=0)
    assert not torch.allclose(whole, start)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_gloo_ranks_with_uneven_micro_batches_equal_one_full_batch(train, tmp_path):
    port = _free_port()
    processes = []
    for rank in range(2):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), str(tmp_path), "14", "4"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for process in processes:
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, output
    whole, _ = train(14, None)
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        assert result["sizes"] == [4, 3] * 3  # 7 per rank in micro-batches of at most 4
        assert torch.allclose(result["weights"], whole, atol=1e-6)
