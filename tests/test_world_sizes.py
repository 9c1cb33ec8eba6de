"""The same effective batch on 1, 2, 3 and 4 gloo ranks trains to the same weights.

Real processes (one per rank, gloo on CPU, forked by `world_sizes_worker.py` after one import
of torch) train the cases of `world_sizes_worker.CASES`: a training set of 61 items (no world
size divides it, so every epoch drops a tail and the shards are cut), an effective batch of 12
or 24, micro-batches that differ in size, SGD with momentum, weight decay and clipping, AdamW
with a schedule, an evaluation over 7 items (padded shards). One process on the whole batch is
the reference.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from world_sizes_worker import CASES, TIMEOUT, VAL_LENGTH

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the ranks are forked"
)

WORKER = Path(__file__).with_name("world_sizes_worker.py")
WORLD_SIZES = (1, 2, 3, 4)

MICRO_BATCHES: dict[str, dict[int, tuple[int, ...]]] = {
    "two_epochs": {1: (12,), 2: (6,), 3: (4,), 4: (3,)},
    "accumulation": {1: (2,) * 6, 2: (2, 2, 2), 3: (2, 2), 4: (2, 1)},
    "uneven_micro_batches": {1: (5, 5, 5, 5, 4), 2: (4, 4, 4), 3: (4, 4), 4: (3, 3)},
}
UPDATES = {"two_epochs": 10, "accumulation": 7, "uneven_micro_batches": 4}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[dict[str, Any]]]:
    """Every rank's results by world size; all ranks of all world sizes run at once."""
    root = tmp_path_factory.mktemp("world_sizes")
    done = subprocess.run(
        [sys.executable, str(WORKER), str(root), *map(str, WORLD_SIZES)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {
        size: [
            torch.load(root / f"w{size}" / f"rank{rank}.pt", weights_only=False)
            for rank in range(size)
        ]
        for size in WORLD_SIZES
    }


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("world_size", WORLD_SIZES[1:])
def test_ranks_train_to_the_weights_of_one_process(
    results: dict[int, list[dict[str, Any]]], world_size: int, case: str
) -> None:
    (single,) = results[1]
    reference = single[case]
    assert reference["micro_batches"] == MICRO_BATCHES[case][1]
    # not vacuous: training moved the weights far beyond the tolerance
    moved = max((reference["weights"][k] - v).abs().max() for k, v in reference["initial"].items())
    assert moved > 1e-2
    for rank, result in enumerate(results[world_size]):
        mine = result[case]
        assert mine["micro_batches"] == MICRO_BATCHES[case][world_size]
        assert mine["update"] == reference["update"] == UPDATES[case]
        for key, value in reference["weights"].items():
            torch.testing.assert_close(
                mine["weights"][key], value, rtol=1e-5, atol=1e-6, msg=f"rank {rank}: {key}"
            )
            # DDP keeps the ranks' replicas identical, not merely close
            assert torch.equal(mine["weights"][key], results[world_size][0][case]["weights"][key])


@pytest.mark.parametrize("world_size", WORLD_SIZES)
def test_evaluation_sees_every_item_once_whatever_the_world_size(
    results: dict[int, list[dict[str, Any]]], world_size: int
) -> None:
    for case in CASES:
        for result in results[world_size]:
            gathered = result[case]["gathered"]
            assert gathered == [list(range(VAL_LENGTH))] * (UPDATES[case] // 3)
