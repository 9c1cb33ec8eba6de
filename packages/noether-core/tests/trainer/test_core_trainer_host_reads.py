"""No host read of a tensor per update outside the log / track intervals.

On an accelerator every read of a device value on the host (`.item()`, `float(t)`,
`bool(t)`, `.tolist()`, `.cpu()`, ...) waits until the device has run everything queued before
it, so the CPU stops launching work. The loop may read only where it reports anyway. On the
CPU a read costs nothing, but the same code runs, so counting the calls here shows where a GPU
run would synchronise: the methods are wrapped with counters during a run with the default
callbacks, and each read is charged to the update that was running (its micro-batches, the
callbacks after it, and the reading of the next batch).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from noether.core import BaseTrainer
from noether.core.testing import (
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
    run_ranks,
)

READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")
"""Tensor methods that hand a value to the host (or copy it there)."""

LOG, TRACK, UPDATES = 10, 5, 40


class PlainMse(BaseTrainer):
    """Mean squared error, reading nothing itself (unlike the testing MseTrainer, which
    records every step's loss with `.item()`)."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return torch.nn.functional.mse_loss(forward_output, targets["y"])


@contextmanager
def counting_reads(
    monkeypatch: pytest.MonkeyPatch, trainer: BaseTrainer
) -> Iterator[Counter[tuple[int, str]]]:
    """Counts host reads by (update, method); the update is the one whose first micro-batch
    started last (0: before training)."""
    reads: Counter[tuple[int, str]] = Counter()
    current = {"update": 0}
    for name in READS:
        original = getattr(torch.Tensor, name)

        def wrapper(self: torch.Tensor, *args: Any, _o: Any = original, _n: str = name) -> Any:
            reads[current["update"], _n] += 1
            return _o(self, *args)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    update = trainer.update

    def marking(batch: Any, dist_model: Any, model: Any, steps: int, index: int, *rest: Any):
        if index == 0:
            current["update"] = trainer.update_counter.update + 1
        return update(batch, dist_model, model, steps, index, *rest)

    monkeypatch.setattr(trainer, "update", marking)
    try:
        yield reads
    finally:
        monkeypatch.undo()


def _run(monkeypatch: pytest.MonkeyPatch, **config: Any) -> Counter[tuple[int, str]]:
    trainer = make_trainer(
        make_config(
            max_updates=UPDATES,
            add_default_callbacks=True,
            log_every_n_updates=LOG,
            track_every_n_updates=TRACK,
            **config,
        ),
        {"train": RegressionDataset(length=8 * (UPDATES + 10))},  # one epoch: no reshuffle
        trainer_cls=PlainMse,
    )
    with counting_reads(monkeypatch, trainer) as reads:
        trainer.train(make_model())
    assert trainer.update_counter.update == UPDATES
    return reads


def _outside_intervals(reads: Counter[tuple[int, str]]) -> dict[tuple[int, str], int]:
    return {key: n for key, n in reads.items() if key[0] % TRACK != 0 and key[0] % LOG != 0}


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({}, id="default"),
        pytest.param({"skip_nan_loss": True}, id="skip_nan_loss"),
        pytest.param({"max_batch_size": 4}, id="accumulation"),
        pytest.param({"skip_nan_loss": True, "max_batch_size": 4}, id="skip_nan_loss-accum"),
        pytest.param({"stop_on_nan_loss": False}, id="no-nan-check"),
    ],
)
def test_no_host_read_on_updates_outside_the_log_and_track_intervals(monkeypatch, config):
    reads = _run(monkeypatch, **config)
    assert _outside_intervals(reads) == {}
    # the intervals do read (so the counters see the reads there are)
    assert sum(n for (update, _), n in reads.items() if update == TRACK) > 0


def test_the_count_sees_a_read_in_train_step(monkeypatch):
    class Reading(PlainMse):
        def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
            loss = super().loss_compute(forward_output, targets)
            if loss.item() < 0:  # one read per micro-batch
                raise AssertionError
            return loss

    trainer = make_trainer(
        make_config(
            max_updates=6,
            add_default_callbacks=True,
            log_every_n_updates=3,
            track_every_n_updates=3,
        ),
        trainer_cls=Reading,
    )
    with counting_reads(monkeypatch, trainer) as reads:
        trainer.train(make_model())
    assert reads[1, "item"] == 1
    assert reads[2, "item"] == 1


@pytest.mark.parametrize("skip_nan_loss", [False, True], ids=["default", "skip_nan_loss"])
def test_no_host_read_outside_the_intervals_on_two_gloo_ranks(tmp_path, skip_nan_loss):
    run_ranks([sys.executable, __file__, str(tmp_path), str(skip_nan_loss)], world_size=2)
    for rank in range(2):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert result["outside"] == {}, rank
        assert result["at_track"] > 0


def _ddp_worker(out: Path, skip_nan_loss: bool) -> None:
    """One rank of the two-rank run (started by the test above with this file as script)."""
    import torch.distributed as dist

    from noether.core.testing import end_rank

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    reads = _run(pytest.MonkeyPatch(), skip_nan_loss=skip_nan_loss)
    outside = {f"{update}:{name}": n for (update, name), n in _outside_intervals(reads).items()}
    at_track = sum(n for (update, _), n in reads.items() if update == TRACK)
    result = {"outside": outside, "at_track": at_track}
    (out / f"rank{dist.get_rank()}.json").write_text(json.dumps(result))
    end_rank()


if __name__ == "__main__":
    _ddp_worker(Path(sys.argv[1]), sys.argv[2] == "True")
