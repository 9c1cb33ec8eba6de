"""Learning rate: first group as optim/lr, the others by group name."""

from __future__ import annotations

import pytest

from noether.config.schemas.schedule import (
    LinearScheduleConfig,
    LinearWarmupCosineDecayScheduleConfig,
)
from noether.core.callbacks.default.lr import LrCallback
from noether.core.testing import (
    CallbackHarness,
    TwoLayerModel,
    TwoLayerModelConfig,
    make_two_layer_model,
)


def test_lr_of_every_group_is_logged_at_the_track_interval():
    model = make_two_layer_model(lr=0.1, weight_decay=0.1, lr_scale={"second": 0.5})
    model.initialize(total_updates=10)
    h = CallbackHarness(model=model)
    callback = LrCallback(None, h.context, every_n_updates=2)
    h.step(callback)
    h.step(callback)
    row = h.tracker.rows[-1]
    names = [group["name"] for group in model.optimizer.param_groups]
    assert row["optim/lr"] == pytest.approx(0.1)
    assert {k: v for k, v in row.items() if k.startswith("optim/lr/")} == {
        f"optim/lr/{name}": pytest.approx(group["lr"])
        for name, group in zip(names[1:], model.optimizer.param_groups[1:], strict=True)
    }
    assert pytest.approx(0.05) in [row[f"optim/lr/{name}"] for name in names[1:]]


def test_logged_lr_follows_the_schedule():
    schedule = LinearWarmupCosineDecayScheduleConfig(warmup_updates=4)
    model = make_two_layer_model(lr=1.0, schedule=schedule)
    model.initialize(total_updates=8)
    h = CallbackHarness(model=model, max_updates=8)
    callback = LrCallback(None, h.context, every_n_updates=1)
    for _ in range(3):
        model.optimizer_schedule_step()
        h.step(callback)
    logged = h.tracker.rows_with("optim/lr")
    # the row of update u (1-based) holds the lr that update used: schedule index u - 1
    assert logged == {1: 0.25, 2: 0.5, 3: 0.75}
    assert model.optimizer.param_groups[0]["lr"] == 1.0  # the next update's, already set


def test_logged_lr_of_a_short_decay_is_the_lr_each_update_used():
    # two updates from 1 to 0: the first trains at the full lr, and the row says so
    schedule = LinearScheduleConfig(start_value=1.0, end_value=0.0)
    model = make_two_layer_model(lr=0.1, schedule=schedule, lr_scale={"second": 0.5})
    model.initialize(total_updates=2)
    h = CallbackHarness(model=model, max_updates=2)
    callback = LrCallback(None, h.context, every_n_updates=1)
    for _ in range(2):
        model.optimizer_schedule_step()
        h.step(callback)
    assert h.tracker.rows_with("optim/lr") == {1: pytest.approx(0.1), 2: 0.0}
    scaled = [key for key in h.tracker.rows[0] if key.startswith("optim/lr/second")]
    assert scaled and h.tracker.rows[0][scaled[0]] == pytest.approx(0.05)


def test_model_without_optimizer_logs_nothing():
    model = TwoLayerModel(TwoLayerModelConfig())
    model.initialize(total_updates=4)
    h = CallbackHarness(model=model)
    callback = LrCallback(None, h.context, every_n_updates=1)
    h.step(callback)
    assert h.tracker.rows == []
