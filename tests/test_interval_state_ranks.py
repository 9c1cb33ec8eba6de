"""Interval callbacks save their state in lockstep on every rank, whatever each rank holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from noether.core.testing import run_ranks

WORKER = Path(__file__).with_name("interval_state_worker.py")


def test_a_state_saved_right_after_a_resume_is_the_same_on_both_ranks(tmp_path: Path) -> None:
    # after a resume only rank 0 holds the interval's sums; a save before the next step
    # must still reduce on both ranks (one rank reducing alone waits for the other forever)
    run_ranks([sys.executable, str(WORKER), str(tmp_path)], world_size=2, timeout=120)
    saved = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    for state in saved:
        assert state["online"] == {"track": {"total": [6.0, 3.0]}}
        assert state["outputs"] == {"sums": {"error": 1.5}, "count": 3}
