"""tools/bench/prefetch_copy.py: its table on a GPU, a clear refusal without one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "bench" / "prefetch_copy.py"


def test_prefetch_copy_prints_each_case_or_says_it_needs_a_gpu():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--batches", "50", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if not torch.cuda.is_available():
        assert result.returncode == 2
        assert result.stderr.strip() == "prefetch_copy.py needs a CUDA device"
        return
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split()[0]: float(line.split()[1]) for line in result.stdout.splitlines()[2:]}
    assert {"plain", "prefetcher", "stream_context", "set_stream_pair"} <= set(rows)
    assert all(value > 0 for value in rows.values())
