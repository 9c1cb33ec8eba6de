"""`fixed_early_stopper` and `metric_early_stopper`: the update at which they stop, the final
checkpoint, and the metric stopper's patience state across a resume."""

from __future__ import annotations

from typing import Any

import pytest

from noether.callbacks._metrics import MissingMetricError
from noether.callbacks.metric_early_stopper import MetricEarlyStopper
from noether.core.checkpoint.writer import CheckpointWriter
from noether.core.testing import MetricScript


@pytest.mark.parametrize(
    ("criterion", "stop_update"),
    [
        ({"stop_at_update": 3}, 3),
        ({"stop_at_sample": 10}, 3),  # 4 samples per update: 12 >= 10 after update 3
        ({"stop_at_epoch": 1}, 8),  # 32 samples / 4 per update = 8 updates per epoch
    ],
)
def test_fixed_early_stopper_stops_at_its_criterion_with_a_final_checkpoint(
    make_run: Any, criterion: dict[str, int], stop_update: int
) -> None:
    run = make_run(callbacks=[{"kind": "fixed_early_stopper", **criterion}], max_updates=20)
    run.train()
    counter = run.trainer.update_counter
    assert counter.update == stop_update
    final = CheckpointWriter.load(run.path.run_dir, counter.tag)
    assert set(final) == {"model", "optim", "trainer"}
    assert final["trainer"]["update_counter"]["update"] == stop_update
    assert run.trainer.update_counter.total_updates == 20  # the schedule kept its length


def test_fixed_early_stopper_without_checkpoint_writes_nothing(make_run: Any) -> None:
    run = make_run(
        callbacks=[{"kind": "fixed_early_stopper", "stop_at_update": 2, "save_checkpoint": False}]
    ).train()
    assert run.trainer.update_counter.update == 2
    assert not run.path.checkpoint_dir.exists() or not any(run.path.checkpoint_dir.iterdir())


def test_metric_early_stopper_stops_after_patience_checks(make_run: Any) -> None:
    # best 5 -> 4 (u2); 3.96 is not better by more than min_delta 0.05 (1), 4.5 (2): stop at u4
    values = [5.0, 4.0, 3.96, 4.5, 1.0, 1.0, 1.0, 1.0]
    run = make_run(
        probes=[lambda ctx: MetricScript(ctx, "loss/val/total", values)],
        callbacks=[
            {
                "kind": "metric_early_stopper",
                "every_n_updates": 1,
                "metric_key": "loss/val/total",
                "patience": 2,
                "min_delta": 0.05,
            }
        ],
        max_updates=8,
    ).train()
    assert run.trainer.update_counter.update == 4
    assert (run.path.checkpoint_dir / "E0_U4_S16" / "trainer.pt").is_file()
    stopper = run.callback(MetricEarlyStopper)
    assert stopper.state_dict() == {"best_value": 4.0, "checks_without_improvement": 2}


def test_metric_early_stopper_with_mode_max_counts_drops(make_run: Any) -> None:
    values = [0.1, 0.5, 0.4, 0.6, 0.55, 0.3, 0.2, 0.1]
    run = make_run(
        probes=[lambda ctx: MetricScript(ctx, "acc", values)],
        callbacks=[
            {
                "kind": "metric_early_stopper",
                "every_n_updates": 1,
                "metric_key": "acc",
                "mode": "max",
                "patience": 3,
                "save_checkpoint": False,
            }
        ],
        max_updates=8,
    ).train()
    assert run.trainer.update_counter.update == 7  # best 0.6 at u4; u5, u6, u7 are worse


def test_metric_early_stopper_state_survives_resume(make_run: Any) -> None:
    config = {"kind": "metric_early_stopper", "every_n_updates": 1, "metric_key": "m"}
    run = make_run(callbacks=[config])
    (stopper,) = run.trainer.get_user_callbacks(run.model)
    stopper.load_state_dict({"best_value": 0.25, "checks_without_improvement": 3})
    (fresh,) = make_run(callbacks=[config]).trainer.get_user_callbacks(run.model)
    fresh.load_state_dict(stopper.state_dict())
    assert fresh.state_dict() == {"best_value": 0.25, "checks_without_improvement": 3}


def test_metric_read_before_it_is_logged_names_the_ordering_rule(make_run: Any) -> None:
    run = make_run(
        callbacks=[
            {"kind": "metric_early_stopper", "every_n_updates": 1, "metric_key": "loss/val/total"}
        ]
    )
    with pytest.raises(MissingMetricError, match="list metric_early_stopper after the callback"):
        run.train()


def test_an_online_loss_read_before_its_first_row_says_the_defaults_run_after(
    make_run: Any,
) -> None:
    # the default callbacks track every 2 updates here and run after the list: at update 1
    # nothing is logged yet, and listing the stopper after a callback cannot help
    stopper = {"kind": "metric_early_stopper", "every_n_updates": 1}
    run = make_run(
        callbacks=[{**stopper, "metric_key": "loss/online/total"}],
        add_default_callbacks=True,
        track_every_n_updates=2,
    )
    with pytest.raises(MissingMetricError) as caught:
        run.train()
    message = str(caught.value)
    assert "the default callbacks log it after the callbacks of trainer.callbacks" in message
    assert "list metric_early_stopper after" not in message
    later = make_run(
        callbacks=[{**stopper, "every_n_updates": 3, "metric_key": "loss/online/total"}],
        add_default_callbacks=True,
        track_every_n_updates=2,
    )
    later.train()  # reads the row of update 2 at update 3
