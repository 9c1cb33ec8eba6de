"""Two real gloo ranks log the same online loss: the mean over both ranks' steps."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from noether.core.testing import run_ranks

WORKER = Path(__file__).with_name("default_callbacks_ddp_worker.py")


def test_online_loss_is_averaged_over_ranks(tmp_path):
    run_ranks([sys.executable, str(WORKER), str(tmp_path)], world_size=2, timeout=120)
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
