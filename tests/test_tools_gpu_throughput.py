"""tools/bench/gpu_throughput.py keeps working: tiny sizes on CPU, as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "bench" / "gpu_throughput.py"


def test_gpu_throughput_runs_tiny_on_cpu_and_prints_its_table():
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--device",
            "cpu",
            "--tiny",
            "--repeats",
            "1",
            "--bare",
            "--control",
        ],
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
        bare_ratio, control_ratio = float(row[6]), float(row[7])
        assert time_ratio > 0 and abs(time_ratio * throughput - 1) < 0.01
        assert bare_ratio > 0 and control_ratio > 0
        assert row[-1] in {"yes", "NO"}


def test_gpu_throughput_profile_prints_each_sides_top_functions():
    args = ["--device", "cpu", "--tiny", "--workload", "A", "--variants", "fp32", "--profile", "5"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for side in ("plain", "trainer"):
        header = f"== A fp32 {side}: one run of 32 updates"
        assert header in result.stdout
        profile = result.stdout.split(header)[1]
        assert "Ordered by: internal time" in profile and "run_backward" in profile
    assert "time ratio" not in result.stdout  # no timing table in profile mode
