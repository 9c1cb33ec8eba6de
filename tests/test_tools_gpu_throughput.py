"""tools/bench/gpu_throughput.py keeps working: tiny sizes on CPU, as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "bench" / "gpu_throughput.py"


def test_gpu_throughput_runs_tiny_on_cpu_and_prints_its_table():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=240,  # seconds in a quiet run; a shared CI host can be several times slower
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("workload"))
    assert "time ratio" in lines[header] and "throughput" in lines[header]
    rows = [line.split() for line in lines[header + 1 :] if line[:1] in {"A", "B", "T"}]
    assert [(row[0], row[1]) for row in rows] == [
        (workload, variant) for workload in "ABT" for variant in ("fp32", "bf16")
    ]
    for row in rows:
        time_ratio, throughput = float(row[4]), float(row[5])
        assert time_ratio > 0 and abs(time_ratio * throughput - 1) < 0.01
        assert row[-1] in {"yes", "NO"}
