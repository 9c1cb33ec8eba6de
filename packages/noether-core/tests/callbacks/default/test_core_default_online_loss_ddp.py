"""Two real gloo ranks log the same online loss: the mean over both ranks' steps."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("default_callbacks_ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_online_loss_is_averaged_over_ranks(tmp_path):
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
                [sys.executable, str(WORKER), str(tmp_path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
    rows = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert rows[0] == rows[1]
    by_update = {row["_update"]: row for row in rows[0]}
    assert sorted(by_update) == [2, 4]
    # update 2: steps 1, 2 (rank 0) and 10, 20 (rank 1)
    assert by_update[2]["loss/online/pressure"] == pytest.approx(33 / 4)
    assert by_update[2]["loss/online/velocity"] == pytest.approx(33 / 8)
    assert by_update[2]["loss/online/total"] == pytest.approx(33 / 4 * 1.5)
    # update 4: 3, 4 and 30 (rank 1's NaN step is left out)
    assert by_update[4]["loss/online/pressure"] == pytest.approx(37 / 3)
