"""Training stability: gradient norm before clipping, parameter norm, scaler scale."""

from __future__ import annotations

import pytest
import torch

from noether.core.callbacks.default.training_stability import TrainingStabilityCallback
from noether.core.testing import CallbackHarness, make_two_layer_model


def _backward(model, scaler: torch.amp.GradScaler | None = None) -> None:
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    loss = model(x).pow(2).mean() * 10.0
    (scaler.scale(loss) if scaler is not None else loss).backward()


def _optimizer_step(context, model, scaler: torch.amp.GradScaler | None = None) -> None:
    """What the train step does at the end of an update: the wanted norm, then the step."""
    if context.grad_norm.is_wanted:
        context.grad_norm.measure(model.parameters(), scaler)
    model.optimizer_step(scaler)


def _norm(tensors) -> float:
    return torch.sqrt(sum(t.detach().double().pow(2).sum() for t in tensors)).item()


def test_grad_norm_is_taken_before_clipping_and_only_on_monitored_updates():
    model = make_two_layer_model(lr=0.1, clip_grad_norm=1e-3)
    model.initialize(total_updates=10)
    h = CallbackHarness(model=model)
    callback = TrainingStabilityCallback(None, h.context, every_n_updates=2)
    callback.before_training()
    expected = {}
    for _ in range(4):
        _backward(model)
        grads = _norm(p.grad for p in model.parameters())
        _optimizer_step(h.context, model)
        params = _norm(model.parameters())
        model.optimizer_zero_grad()
        expected[h.counter.update + 1] = (grads, params)
        h.step(callback)
    logged = h.tracker.rows_with("stability/grad_norm")
    assert logged == {u: pytest.approx(expected[u][0], rel=1e-5) for u in (2, 4)}
    assert all(v > 1e-3 * 10 for v in logged.values())  # far above the clipping norm
    assert h.tracker.rows_with("stability/param_norm") == {
        u: pytest.approx(expected[u][1], rel=1e-5) for u in (2, 4)
    }
    assert "stability/grad_scale" not in h.tracker.rows[-1]
    callback.after_training()
    assert "optimizer_step" not in vars(model)  # the model is never patched


def test_scaled_gradients_are_divided_by_the_scale_which_is_logged():
    model = make_two_layer_model(lr=1e-6)
    model.initialize(total_updates=10)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    h = CallbackHarness(model=model)
    h.context.grad_scaler = scaler
    callback = TrainingStabilityCallback(None, h.context, every_n_updates=1)
    callback.before_training()
    _backward(model)
    true_norm = _norm(p.grad for p in model.parameters())
    model.optimizer_zero_grad()
    _backward(model, scaler)
    assert _norm(p.grad for p in model.parameters()) == pytest.approx(true_norm * 1024.0)
    _optimizer_step(h.context, model, scaler)
    h.step(callback)
    row = h.tracker.rows[-1]
    assert row["stability/grad_norm"] == pytest.approx(true_norm, rel=1e-4)
    assert row["stability/grad_scale"] == 1024.0
