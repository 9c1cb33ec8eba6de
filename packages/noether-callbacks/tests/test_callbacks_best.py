"""`best_checkpoint` and `best_metric`: which weights are kept, what is logged, and state."""

from __future__ import annotations

from typing import Any

import torch

from noether.callbacks.best_checkpoint import BestCheckpointCallback
from noether.callbacks.best_metric import BestMetricCallback
from noether.core.checkpoint.writer import CheckpointWriter
from noether.core.testing import MetricScript, WeightRecorder

# new bests at updates 1 (10), 2 (5), 4 (4.9), 5 (4.0); 5.2 and 4.1 are worse
VALUES = [10.0, 5.0, 5.2, 4.9, 4.0, 4.1]


def test_best_checkpoint_keeps_best_and_tolerance_weights(make_run: Any) -> None:
    run = make_run(
        probes=[
            WeightRecorder,
            lambda ctx: MetricScript(ctx, "loss/val/total", VALUES),
        ],
        callbacks=[
            {
                "kind": "best_checkpoint",
                "every_n_updates": 1,
                "metric_key": "loss/val/total",
                "tolerances": [5, 30],
            }
        ],
        max_updates=6,
    ).train()
    history = run.callback(WeightRecorder).history  # history[u] = weights after u

    def kept(tag: str) -> dict[str, torch.Tensor]:
        return CheckpointWriter.load(run.path.run_dir, tag)["model"]

    folders = sorted(p.name for p in run.path.checkpoint_dir.iterdir())
    assert folders == [
        "best_loss.val.total",
        "best_loss.val.total_tol30",
        "best_loss.val.total_tol5",
    ]
    # best: update 5 (4.0)
    # 5%: 5.0 (u2) stays within 5% of 4.9, but not of 4.0 -> replaced by u5
    # 30%: 5.0 (u2) is within 30% of 4.0 (<= 5.2) -> stays
    for tag, update in [
        ("best_loss.val.total", 5),
        ("best_loss.val.total_tol5", 5),
        ("best_loss.val.total_tol30", 2),
    ]:
        for key, value in kept(tag).items():
            assert torch.equal(value, history[update][key]), (tag, key)
    state = run.callback(BestCheckpointCallback).state_dict()
    assert state == {
        "best_value": 4.0,
        "best_update": 5,
        "tolerance_values": {5.0: [4.0, 5], 30.0: [5.0, 2]},
    }
    (fresh,) = make_run(
        callbacks=[run.trainer.config.callbacks[0].model_dump()]
    ).trainer.get_user_callbacks(run.model)
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state


def test_best_checkpoint_mode_max_keeps_the_largest(make_run: Any) -> None:
    run = make_run(
        probes=[WeightRecorder, lambda ctx: MetricScript(ctx, "acc", VALUES)],
        callbacks=[
            {"kind": "best_checkpoint", "every_n_updates": 1, "metric_key": "acc", "mode": "max"}
        ],
        max_updates=6,
    ).train()
    history = run.callback(WeightRecorder).history
    model = CheckpointWriter.load(run.path.run_dir, "best_acc")["model"]
    assert torch.equal(model["linear.weight"], history[1]["linear.weight"])


def test_best_metric_logs_best_value_and_its_update(make_run: Any) -> None:
    run = make_run(
        probes=[lambda ctx: MetricScript(ctx, "loss/val/total", VALUES)],
        callbacks=[{"kind": "best_metric", "every_n_updates": 2, "metric_key": "loss/val/total"}],
        max_updates=6,
    ).train()
    rows = {row["update"]: row for row in run.rows}
    # it looks at updates 2, 4, 6 only (5.0, 4.9, 4.1): the 4.0 of update 5 is not seen
    assert [rows[u]["best/loss/val/total"] for u in (2, 4, 6)] == [5.0, 4.9, 4.1]
    assert [rows[u]["best_update/loss/val/total"] for u in (2, 4, 6)] == [2, 4, 6]
    assert "best/loss/val/total" not in rows[3]
    summary = run.trainer.log_writer.summary_values
    assert summary == {"best/loss/val/total": 4.1, "best_update/loss/val/total": 6.0}
    callback = run.callback(BestMetricCallback)
    state = callback.state_dict()
    (fresh,) = make_run(
        callbacks=[run.trainer.config.callbacks[0].model_dump()]
    ).trainer.get_user_callbacks(run.model)
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state
