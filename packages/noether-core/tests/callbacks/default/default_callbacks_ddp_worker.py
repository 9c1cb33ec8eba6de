"""One process of the 2-rank gloo test of the online loss (test_core_default_online_loss_ddp).

Usage: python default_callbacks_ddp_worker.py OUT_DIR; RANK / WORLD_SIZE / MASTER_* in env.
Feeds rank-dependent losses to an OnlineLossCallback and saves what it logged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.distributed as dist

from noether.core.callbacks.base import CallbackContext
from noether.core.callbacks.default.online_loss import OnlineLossCallback
from noether.core.counters import UpdateCounter
from noether.core.distributed import leave_process_group
from noether.core.trackers.log_writer import LogWriter


class Rows:
    """Keeps every row the LogWriter flushes (on every rank, to compare them)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self.rows.append({**metrics, "_update": update})


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    rows = Rows()
    writer = LogWriter(rows)  # type: ignore[arg-type]
    counter = UpdateCounter(updates_per_epoch=100, effective_batch_size=4, max_updates=100)
    context = CallbackContext(
        trainer=SimpleNamespace(config=SimpleNamespace(skip_nan_loss=True)),
        model=None,
        data_container=None,
        log_writer=writer,
        tracker=rows,
        path_provider=None,
        update_counter=counter,
        checkpoint_writer=None,
        device=torch.device("cpu"),
        logger=logging.getLogger("worker"),
    )
    callback = OnlineLossCallback(None, context, every_n_updates=2)
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
    (out / f"rank{rank}.json").write_text(json.dumps(rows.rows))
    leave_process_group()
    # torch's gloo threads still abort the interpreter's teardown now and then ("terminate
    # called without an active exception", ~1 in 60 runs): everything is written, so skip it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(Path(sys.argv[1]))
