"""ModelBase: optimizer and schedule from the config, stepping with/without a scaler."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from torch import nn

from noether.config import ModelConfig
from noether.config.schemas.optimizer import SGDConfig
from noether.config.schemas.schedule import LinearScheduleConfig
from noether.core.models import ModelBase

torch.set_num_threads(1)


class TinyModelConfig(ModelConfig):
    kind: str = "tests.tiny_model_for_model_base"
    target: ClassVar[str] = ""


class TinyModel(ModelBase):
    def __init__(self, model_config: ModelConfig) -> None:
        super().__init__(model_config)
        self.layer = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def make(**optimizer: object) -> TinyModel:
    torch.manual_seed(0)
    config = TinyModelConfig(optimizer=SGDConfig(**{"lr": 0.1, **optimizer}))
    return TinyModel(config)


def loss_of(model: TinyModel, scale: float = 1.0) -> torch.Tensor:
    x = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    return model(x).pow(2).sum() * scale


def test_initialize_builds_optimizer_and_schedule_and_sets_first_lr() -> None:
    model = make(schedule=LinearScheduleConfig(start_value=1.0, end_value=0.0))
    assert model.optimizer is None and not model.is_initialized
    model.initialize(total_updates=11)
    assert model.is_initialized
    assert isinstance(model.optimizer, torch.optim.SGD)
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    model.optimizer_schedule_step()
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.09)
    model.set_update(10)
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.0)
    model.set_update(5)
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_schedule_step_without_a_schedule_counts_updates_and_keeps_the_base_lr() -> None:
    model = make()
    model.initialize(total_updates=5)
    assert model.optimizer is not None and model.schedule is None
    for _ in range(3):
        model.optimizer_schedule_step()
    assert model.current_update == 3
    assert "_update" not in model._modules and "_update" not in model._parameters
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    model.set_update(4)
    assert model.current_update == 4 and model.optimizer.param_groups[0]["lr"] == 0.1


def test_frozen_model_has_no_optimizer_and_lists_nograd_params() -> None:
    config = TinyModelConfig(optimizer=SGDConfig(lr=0.1), is_frozen=True)
    model = TinyModel(config)
    model.initialize(total_updates=5)
    assert model.is_frozen and model.optimizer is None
    assert sorted(model.nograd_paramnames) == ["layer.bias", "layer.weight"]
    assert not any(p.requires_grad for p in model.parameters())
    model.optimizer_step(None)  # nothing to do, no error


def test_device_follows_the_parameters() -> None:
    assert make().device == torch.device("cpu")


def test_optimizer_step_without_scaler_is_a_plain_sgd_step() -> None:
    model = make()
    model.initialize(total_updates=1)
    before = model.layer.weight.detach().clone()
    loss_of(model).backward()
    grad = model.layer.weight.grad.clone()
    model.optimizer_step(None)
    torch.testing.assert_close(model.layer.weight, before - 0.1 * grad)
    model.optimizer_zero_grad()
    assert model.layer.weight.grad is None


def test_optimizer_step_with_scaler_matches_the_unscaled_step() -> None:
    plain, scaled = make(clip_grad_norm=0.5), make(clip_grad_norm=0.5)
    plain.initialize(1)
    scaled.initialize(1)
    loss_of(plain).backward()
    plain_norm = plain.optimizer_step(None)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(loss_of(scaled)).backward()
    scaled_norm = scaled.optimizer_step(scaler)
    # unscaled before clipping: same norm, same clipped step
    assert scaled_norm is not None and plain_norm is not None
    assert scaled_norm.item() == pytest.approx(plain_norm.item(), rel=1e-5)
    assert plain_norm.item() > 0.5  # clipping was active
    torch.testing.assert_close(scaled.layer.weight, plain.layer.weight)
    assert scaler.get_scale() == 1024.0  # finite gradients: scale unchanged (growth later)


def test_scaler_skips_the_step_on_non_finite_gradients_and_lowers_the_scale() -> None:
    model = make()
    model.initialize(1)
    before = model.layer.weight.detach().clone()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(loss_of(model, scale=float("inf"))).backward()
    model.optimizer_step(scaler)
    torch.testing.assert_close(model.layer.weight, before)
    assert scaler.get_scale() == 512.0


def test_clip_grad_value_is_applied_before_the_step() -> None:
    model = make(clip_grad_value=0.01)
    model.initialize(1)
    before = model.layer.weight.detach().clone()
    loss_of(model).backward()
    model.optimizer_step(None)
    step = (before - model.layer.weight.detach()).abs()
    assert step.max().item() == pytest.approx(0.1 * 0.01)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_float16_step_with_a_cuda_scaler_matches_float32() -> None:
    plain, scaled = make(clip_grad_norm=0.5).cuda(), make(clip_grad_norm=0.5).cuda()
    plain.initialize(1)
    scaled.initialize(1)
    x = torch.randn(8, 3, device="cuda")
    plain(x).pow(2).mean().backward()
    plain.optimizer_step(None)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**10)
    with torch.autocast("cuda", dtype=torch.float16):
        loss = scaled(x).float().pow(2).mean()
    scaler.scale(loss).backward()
    scaled.optimizer_step(scaler)
    torch.testing.assert_close(scaled.layer.weight, plain.layer.weight, rtol=1e-2, atol=1e-3)
