"""`offline_loss` on 2 real gloo ranks: the padded, sharded, uneven evaluation is reduced to
exactly the mean over the dataset, the same on both ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from noether.core.testing import free_port

WORKER = Path(__file__).with_name("offline_loss_ddp_worker.py")


def test_offline_loss_is_exact_over_two_ranks(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        str(WORKER),
        str(out),
        str(tmp_path / "runs"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["logged"][0] == data["logged"][1]
    assert data["logged"][0] == pytest.approx(data["direct"], rel=1e-5)
