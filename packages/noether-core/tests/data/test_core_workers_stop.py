"""A run that ends while its data workers load batches ends them at once: torch's shutdown
waits for each worker's batch (up to 5 seconds per worker), batches nobody reads; with slow
items a stopped run exited long after its checkpoint."""

from __future__ import annotations

import os
import time

import pytest

from noether.core.testing import (
    MseTrainer,
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
)


class SlowItems(RegressionDataset):
    """Items that take a while (a batch of 4: 2 s), as large meshes read from disk do."""

    def __init__(self, pid_file: str) -> None:
        super().__init__(64)
        self.pid_file = pid_file

    def __getitem__(self, index: int):
        with open(self.pid_file, "a") as file:
            file.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        return super().__getitem__(index)


class FailingTrainer(MseTrainer):
    """Fails in its first update's loss, while the workers load the next batches."""

    failed_at = 0.0

    def loss_compute(self, forward_output, targets):
        self.failed_at = time.monotonic()
        raise RuntimeError("loss failed")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_failed_run_ends_its_data_workers_without_waiting_for_their_batches(tmp_path):
    pid_file = tmp_path / "pids"
    trainer = make_trainer(
        make_config(effective_batch_size=4, max_epochs=2),
        {"train": SlowItems(str(pid_file))},
        trainer_cls=FailingTrainer,
        num_workers=2,
    )
    with pytest.raises(RuntimeError, match="loss failed"):
        trainer.train(make_model())
    # the workers were loading the next batches (2 s each) when the loss failed
    assert time.monotonic() - trainer.failed_at < 1.0
    workers = {int(pid) for pid in pid_file.read_text().split()}
    assert len(workers) == 2
    assert not [pid for pid in workers if _alive(pid)]
