"""Parameter groups (weight decay exclusion, lr scale, base_lr) and gradient clipping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from noether.config.schemas.optimizer import AdamWConfig, SGDConfig
from noether.core.optim.builder import build_optimizer, clip_gradients

torch.set_num_threads(1)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 2)
        self.scale = nn.Parameter(torch.ones(3, 3))


def groups_by_param(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, dict]:
    ids = {id(p): name for name, p in model.named_parameters()}
    return {ids[id(p)]: group for group in optimizer.param_groups for p in group["params"]}


def test_biases_and_norms_get_no_weight_decay() -> None:
    model = Net()
    optimizer = build_optimizer(AdamWConfig(lr=1e-3, weight_decay=0.05), model)
    by_param = groups_by_param(optimizer, model)
    assert {n for n, g in by_param.items() if g["weight_decay"] == 0.0} == {
        "encoder.bias",
        "norm.weight",
        "norm.bias",
        "head.bias",
    }
    assert {n for n, g in by_param.items() if g["weight_decay"] == 0.05} == {
        "encoder.weight",
        "head.weight",
        "scale",
    }
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["name"] == "default"


def test_exclusion_can_be_turned_off() -> None:
    model = Net()
    config = AdamWConfig(lr=1e-3, weight_decay=0.05, exclude_bias_and_norm_from_wd=False)
    optimizer = build_optimizer(config, model)
    assert len(optimizer.param_groups) == 1
    assert optimizer.param_groups[0]["weight_decay"] == 0.05


def test_weight_decay_only_shrinks_weights_not_biases() -> None:
    model = Net()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = build_optimizer(SGDConfig(lr=0.1, weight_decay=0.5), model)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    after = dict(model.named_parameters())
    torch.testing.assert_close(after["head.weight"], before["head.weight"] * (1 - 0.1 * 0.5))
    torch.testing.assert_close(after["head.bias"], before["head.bias"])
    torch.testing.assert_close(after["norm.weight"], before["norm.weight"])


def test_lr_scale_by_name_longest_key_wins_and_base_lr_is_stored() -> None:
    model = Net()
    config = AdamWConfig(
        lr=1e-2, weight_decay=0.0, lr_scale={"head": 0.1, "head.weight": 0.5, "norm": 0.0}
    )
    optimizer = build_optimizer(config, model)
    by_param = groups_by_param(optimizer, model)
    assert by_param["head.weight"]["lr"] == pytest.approx(5e-3)
    assert by_param["head.bias"]["lr"] == pytest.approx(1e-3)
    assert by_param["norm.weight"]["lr"] == 0.0
    assert by_param["encoder.weight"]["lr"] == pytest.approx(1e-2)
    for group in optimizer.param_groups:
        assert group["base_lr"] == pytest.approx(1e-2 * group["lr_scale"])
    # zero lr_scale freezes in practice
    norm_before = model.norm.weight.detach().clone()
    loss = model.head(model.norm(model.encoder(torch.randn(5, 4)))).pow(2).sum()
    loss.backward()
    optimizer.step()
    torch.testing.assert_close(model.norm.weight, norm_before)


def test_kind_specific_fields_reach_the_torch_optimizer() -> None:
    model = Net()
    optimizer = build_optimizer(SGDConfig(lr=0.1, momentum=0.9, nesterov=True), model)
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["momentum"] == 0.9
    assert optimizer.defaults["nesterov"] is True


def test_frozen_parameters_are_left_out_and_nothing_trainable_is_an_error() -> None:
    model = Net()
    model.encoder.requires_grad_(False)
    optimizer = build_optimizer(AdamWConfig(lr=1e-3), model)
    names = {n for group in optimizer.param_groups for n in group["param_names"]}
    assert not any(n.startswith("encoder") for n in names)
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        build_optimizer(AdamWConfig(lr=1e-3), model)


def test_clip_grad_norm_scales_the_global_norm() -> None:
    a = nn.Parameter(torch.zeros(2))
    b = nn.Parameter(torch.zeros(1))
    a.grad = torch.tensor([3.0, 0.0])
    b.grad = torch.tensor([4.0])
    norm = clip_gradients([a, b], clip_grad_norm=1.0)
    assert norm is not None and norm.item() == pytest.approx(5.0)
    torch.testing.assert_close(a.grad, torch.tensor([0.6, 0.0]))
    torch.testing.assert_close(b.grad, torch.tensor([0.8]))


def test_clip_grad_value_clamps_each_element() -> None:
    a = nn.Parameter(torch.zeros(3))
    a.grad = torch.tensor([-5.0, 0.5, 2.0])
    assert clip_gradients([a], clip_grad_value=1.0) is None
    torch.testing.assert_close(a.grad, torch.tensor([-1.0, 0.5, 1.0]))


def test_lr_scale_key_that_names_no_parameter_is_an_error() -> None:
    model = Net()
    with pytest.raises(ValueError, match=r"lr_scale: 'haed' is part of no parameter name of Net"):
        build_optimizer(AdamWConfig(lr=1e-3, lr_scale={"head": 0.1, "haed": 0.1}), model)
    # a key of frozen parameters only is no typo: it scales nothing, and is accepted
    model.encoder.requires_grad_(False)
    build_optimizer(AdamWConfig(lr=1e-3, lr_scale={"encoder": 0.1}), model)


def test_lr_scale_keys_match_whole_parts_of_a_dotted_name() -> None:
    """`blocks.1` scaled `blocks.10` and `blocks.12` too (the output layer), silently."""
    model = nn.Module()
    model.blocks = nn.Sequential(*[nn.Linear(2, 2) for _ in range(13)])
    optimizer = build_optimizer(AdamWConfig(lr=1e-2, lr_scale={"blocks.1": 0.0}), model)
    groups = groups_by_param(optimizer, model)
    scaled = sorted(name for name, group in groups.items() if group["lr_scale"] == 0.0)
    assert scaled == ["blocks.1.bias", "blocks.1.weight"]
    with pytest.raises(ValueError, match=r"lr_scale: 'block' is part of no parameter name"):
        build_optimizer(AdamWConfig(lr=1e-2, lr_scale={"block": 0.5}), model)
