"""Metric readers on 2 real gloo ranks whose logged values differ: every rank acts on rank 0's
value (the one the tracker writes), so the early stop comes at the same update on all ranks
and the run ends cleanly, instead of one rank stopping (or failing on a metric only rank 0
logs) while the others train on and break the process group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from noether.core.testing import free_port

WORKER = Path(__file__).with_name("metric_ranks_worker.py")


def test_metric_readers_follow_rank_0_on_every_rank(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        str(WORKER),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # its own session, so that a hang (ranks that disagree) is ended with all its ranks
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the ranks hung (they disagree on the stop):\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    # rank 0's score: 5, 4, 3, 3, 3: best 3 at update 3, so patience 2 stops at update 5;
    # its rank0 metric: 2, 1, 1.5, 0.5, 0.7: best 0.5 at update 4
    for decided in ranks:
        assert decided == {
            "update": 5,
            "best_metric": [0.5, 4],
            "best_checkpoint": 4,
            "stopper_best": 3.0,
        }
    assert (tmp_path / "runs/ranks/run/checkpoints/best_custom.rank0").is_dir()
    assert (tmp_path / "runs/ranks/run/checkpoints/E1_U5_S20").is_dir()
