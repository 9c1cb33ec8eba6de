"""Precision in the loop, the gradient scaler's state, default intervals and model wrapping."""

from __future__ import annotations

import logging

import pytest
import torch

from noether.core.testing import (
    Marker,
    MseTrainer,
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
)


@pytest.mark.parametrize(
    ("asked", "used"), [("bfloat16", torch.bfloat16), ("fp16", torch.bfloat16)]
)
def test_reduced_precision_trains_on_cpu(caplog, asked, used):
    seen = []

    class DtypeTrainer(MseTrainer):
        def loss_compute(self, forward_output, targets):
            seen.append(forward_output.dtype)
            return super().loss_compute(forward_output.float(), targets)

    data = RegressionDataset(64)
    model = make_model(lr=0.05)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model(data.x), data.y).item()
    with caplog.at_level(logging.WARNING, logger="noether.core.precision"):
        trainer = make_trainer(
            make_config(max_epochs=10, precision=asked),
            {"train": data},
            trainer_cls=DtypeTrainer,
        )
    assert trainer.precision is used
    assert trainer.grad_scaler is None
    assert len(caplog.records) == (1 if asked == "fp16" else 0)
    trainer.train(model)
    assert set(seen) == {used}
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model(data.x), data.y).item()
    assert after < before * 0.2
    assert next(model.parameters()).dtype is torch.float32


def test_grad_scaler_state_is_checkpointed():
    trainer = make_trainer(make_config())
    assert "grad_scaler" not in trainer.state_dict()
    trainer.grad_scaler = torch.amp.GradScaler("cpu", init_scale=512.0)
    state = trainer.state_dict()
    assert state["grad_scaler"]["scale"] == 512.0
    trainer.grad_scaler = torch.amp.GradScaler("cpu", init_scale=2.0)
    trainer.load_state_dict(state)
    assert trainer.grad_scaler.state_dict()["scale"] == 512.0


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"max_updates": 1000}, ({"every_n_updates": 10}, {"every_n_updates": 2})),
        ({"max_updates": 50}, ({"every_n_updates": 1}, {"every_n_updates": 1})),
        ({"max_epochs": 100}, ({"every_n_updates": 8}, {"every_n_updates": 1})),
        (
            {"max_updates": 1000, "log_every_n_epochs": 2, "track_every_n_samples": 64},
            ({"every_n_epochs": 2}, {"every_n_samples": 64}),
        ),
    ],
)
def test_default_callback_intervals(config, expected):
    intervals = make_trainer(make_config(**config)).get_default_callback_intervals()
    for group, want in zip(("log", "track"), expected, strict=True):
        assert {k: v for k, v in intervals[group].items() if v is not None} == want


def test_wrap_model_applies_ddp_then_compile(monkeypatch):
    order = []

    def fake_compile(module):
        order.append(("compile", type(module).__name__))
        return module

    class WrapTrainer(MseTrainer):
        def wrap_ddp(self, model):
            order.append(("ddp", type(model).__name__))
            return Marker(model)

    monkeypatch.setattr(torch, "compile", fake_compile)
    trainer = make_trainer(
        make_config(max_updates=2, use_torch_compile=True), trainer_cls=WrapTrainer
    )
    trainer.train(make_model())
    assert order == [("ddp", "LinearModel"), ("compile", "Marker")]
    assert trainer.update_counter.update == 2


def test_compile_is_off_by_default_and_single_process_is_not_wrapped(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda m: pytest.fail("compiled"))
    trainer = make_trainer(make_config(max_updates=1))
    model = make_model()
    model.initialize(1)
    assert trainer.wrap_model(model) is model
    assert trainer.ddp_model is None


def test_wrapping_an_uninitialised_model_is_an_error():
    trainer = make_trainer(make_config(max_updates=1))
    with pytest.raises(ValueError, match="initialized before wrapping"):
        trainer.wrap_model(make_model())


def test_default_callbacks_log_the_online_loss_at_the_track_interval(tracker):
    trainer = make_trainer(
        make_config(max_updates=20, add_default_callbacks=True, track_every_n_updates=5),
        tracker=tracker,
    )
    trainer.train(make_model())
    rows = [row for row in tracker.rows if "loss/online/total" in row]
    assert [row["_update"] for row in rows] == [5, 10, 15, 20]
    assert rows[-1]["loss/online/total"] < rows[0]["loss/online/total"]
