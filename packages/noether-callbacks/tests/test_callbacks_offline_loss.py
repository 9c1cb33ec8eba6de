"""`offline_loss`: logged values equal a direct evaluation of the model on the whole dataset,
with uneven last batches and on EMA weights; unknown EMA factors fail with a clear message."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from noether.callbacks.ema import EmaCallback


def direct_losses(model: torch.nn.Module, dataset: Any) -> dict[str, float]:
    """MSE of each field over all samples of the dataset, in one batch."""
    with torch.no_grad():
        output = model(x=dataset.x)
    a = float(((output["a"] - dataset.a) ** 2).mean())
    b = float(((output["b"] - dataset.b) ** 2).mean())
    return {"a": a, "b": b, "total": a + b}


@pytest.mark.parametrize("batch_size", [3, 4, 10, 16])  # last batches of 1, 2, full, partial
def test_offline_loss_equals_direct_evaluation(make_run: Any, batch_size: int) -> None:
    run = make_run(
        callbacks=[
            {
                "kind": "offline_loss",
                "every_n_updates": 4,
                "dataset_key": "val",
                "batch_size": batch_size,
            }
        ],
        max_updates=4,
    ).train()
    (row,) = [r for r in run.rows if "loss/val/total" in r]
    assert row["update"] == 4
    expected = direct_losses(run.model, run.trainer.data_container.get_dataset("val"))
    for name, value in expected.items():
        assert row[f"loss/val/{name}"] == pytest.approx(value, rel=1e-5), name


def test_offline_loss_evaluates_ema_weights(make_run: Any) -> None:
    run = make_run(
        callbacks=[
            {"kind": "ema", "every_n_updates": 5, "target_factors": [0.8]},
            {"kind": "offline_loss", "every_n_updates": 5, "dataset_key": "val", "batch_size": 4},
            {
                "kind": "offline_loss",
                "every_n_updates": 5,
                "dataset_key": "val",
                "batch_size": 3,
                "ema_factor": 0.8,
            },
        ],
        max_updates=5,
    ).train()
    (row,) = [r for r in run.rows if "loss/val/total" in r]
    dataset = run.trainer.data_container.get_dataset("val")
    ema_model = run.callback(EmaCallback).get_model(0.8)
    expected_ema = direct_losses(ema_model, dataset)
    expected = direct_losses(run.model, dataset)
    for name in ("a", "b", "total"):
        assert row[f"loss/val/ema0.8/{name}"] == pytest.approx(expected_ema[name], rel=1e-5)
        assert row[f"loss/val/{name}"] == pytest.approx(expected[name], rel=1e-5)
    assert row["loss/val/ema0.8/total"] != pytest.approx(row["loss/val/total"], rel=1e-3)


def test_offline_loss_with_missing_ema_names_the_fix(make_run: Any) -> None:
    run = make_run(
        callbacks=[
            {"kind": "offline_loss", "every_n_updates": 2, "dataset_key": "val", "ema_factor": 0.9}
        ]
    )
    with pytest.raises(ValueError, match=r"no ema callback has that target factor"):
        run.train()


def test_offline_loss_runs_once_in_an_evaluation_only_run(make_run: Any) -> None:
    run = make_run(
        callbacks=[{"kind": "offline_loss", "every_n_epochs": 1, "dataset_key": "val"}],
        max_updates=0,
    ).train()
    rows = [r for r in run.rows if "loss/val/total" in r]
    assert len(rows) == 1
    expected = direct_losses(run.model, run.trainer.data_container.get_dataset("val"))
    assert rows[0]["loss/val/total"] == pytest.approx(expected["total"], rel=1e-5)
