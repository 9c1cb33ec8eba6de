"""One process of the 2-rank gloo test of the online loss (test_core_default_online_loss_ddp).

Usage: python default_callbacks_ddp_worker.py OUT_DIR; RANK / WORLD_SIZE / MASTER_* in env.
Feeds rank-dependent losses to an OnlineLossCallback and saves what it logged.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist

from noether.core.callbacks.default.online_loss import OnlineLossCallback
from noether.core.testing import CallbackHarness, end_rank


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    # the recording tracker keeps rows on every rank, to compare them
    harness = CallbackHarness(
        updates_per_epoch=100,
        max_updates=100,
        trainer=SimpleNamespace(config=SimpleNamespace(skip_nan_loss=True)),
    )
    counter, writer = harness.counter, harness.log_writer
    callback = OnlineLossCallback(None, harness.context, every_n_updates=2)
    # rank 0 sees 1, 2, 3, 4; rank 1 sees 10, 20, 30, nan (a skipped non-finite step)
    values = [[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, float("nan")]][rank]
    for value in values:
        callback.track_after_accumulation_step(
            {"pressure": torch.tensor(value), "velocity": torch.tensor(value / 2)}, {}, 0, 1
        )
        counter.add_update()
        if callback.should_run():
            callback.periodic_callback()
        writer.flush(counter)
    (out / f"rank{rank}.json").write_text(json.dumps(harness.tracker.rows))
    end_rank()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(Path(sys.argv[1]))
