"""Two real gloo processes train to the same weights as one process on the full batch."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from noether.core.testing import run_ranks

WORKER = Path(__file__).with_name("core_ddp_worker.py")


def _run(out: Path, world_size: int, max_batch_size: int, *extra: str) -> list[dict]:
    out.mkdir()
    run_ranks([sys.executable, str(WORKER), str(out), str(max_batch_size), *extra], world_size)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(world_size)]


def test_two_gloo_ranks_with_accumulation_match_one_process(tmp_path):
    single = _run(tmp_path / "single", world_size=1, max_batch_size=8)[0]
    ranks = _run(tmp_path / "ddp", world_size=2, max_batch_size=2)
    assert not single["ddp"]
    assert single["accumulation_steps"] == 1
    for result in ranks:
        assert result["ddp"]
        assert result["ddp_released"]  # before the process group is left
        assert result["accumulation_steps"] == 2  # 4 per rank in micro-batches of 2
        assert result["update"] == 6
        # the evaluation callback saw the 5 items once per run (rank 1 padded) at 3 and 6
        assert result["gathered"] == [[0, 1, 2, 3, 4]] * 2
        for key, value in single["weights"].items():
            assert torch.allclose(result["weights"][key], value, atol=1e-6), key
    for key in single["weights"]:
        assert torch.equal(ranks[0]["weights"][key], ranks[1]["weights"][key])


def test_a_signal_on_one_rank_stops_all_ranks_at_the_same_update(tmp_path):
    ranks = _run(tmp_path / "signal", 2, 8, "signal")
    # rank 1 is signalled after update 3; the ranks' flags are read one update later
    assert [result["update"] for result in ranks] == [4, 4]
    for key in ranks[0]["weights"]:
        assert torch.equal(ranks[0]["weights"][key], ranks[1]["weights"][key])


def test_skip_nan_loss_on_one_rank_skips_that_micro_batch_on_all_ranks(tmp_path):
    # rank 0: update 2's first micro-batch is infinite; rank 1: both of update 3's are NaN
    clean = _run(tmp_path / "clean", 2, 2)
    ranks = _run(tmp_path / "nan", 2, 2, "nan")
    for result in ranks:
        assert result["update"] == 6
        seen = result["weights_per_update"]
        assert len(seen) == 6
        for key, value in seen[2].items():  # update 3 skipped on all ranks: no change
            assert torch.equal(value, seen[1][key]), key
            assert not torch.equal(seen[1][key], seen[0][key]), key  # update 2 stepped
        for value in result["weights"].values():
            assert torch.isfinite(value).all()
        # what callbacks see: a skipped micro-batch logs NaN on every rank, so the online
        # loss of a rank whose own loss was finite leaves it out of its mean too
        logged = result["logged_losses"]
        assert len(logged) == 12
        assert [i for i, loss in enumerate(logged) if not math.isfinite(loss)] == [2, 4, 5]
    for key in ranks[0]["weights"]:
        assert torch.equal(ranks[0]["weights"][key], ranks[1]["weights"][key])
        assert not torch.equal(ranks[0]["weights"][key], clean[0]["weights"][key])
