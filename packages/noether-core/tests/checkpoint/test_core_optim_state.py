"""A stored optimizer state is fitted to this run's parameters by name, and checked by shape
without misfiring on optimizers whose state is not shaped like the parameter."""

from __future__ import annotations

import pytest
import torch

from noether.core.checkpoint.optim_state import (
    OptimizerStateMismatch,
    align_by_name,
    check_state_shapes,
)


def _stepped(optimizer_class: type[torch.optim.Optimizer], names: list[str]) -> tuple:
    params = {"a": torch.nn.Parameter(torch.ones(3, 4)), "b": torch.nn.Parameter(torch.ones(2))}
    group = {"params": [params[n] for n in names], "param_names": names}
    optimizer = optimizer_class([group], lr=0.1)
    sum(p.sum() for p in params.values()).backward()
    optimizer.step()
    return optimizer, {name: p.detach() for name, p in params.items()}


def test_reordered_parameters_get_their_own_state_back() -> None:
    old, weights = _stepped(torch.optim.Adam, ["a", "b"])
    new, _ = _stepped(torch.optim.Adam, ["b", "a"])
    stored = align_by_name(old.state_dict(), new)
    check_state_shapes(stored, new, weights)
    new.load_state_dict(stored)
    assert new.state[new.param_groups[0]["params"][0]]["exp_avg"].shape == (2,)


def test_a_state_kept_for_another_shape_names_the_parameter() -> None:
    old, weights = _stepped(torch.optim.Adam, ["a", "b"])
    new, _ = _stepped(torch.optim.Adam, ["b", "a"])
    with pytest.raises(OptimizerStateMismatch, match=r"parameter 'b' .* kept for a parameter 'a'"):
        check_state_shapes(old.state_dict(), new, weights)


@pytest.mark.parametrize("with_weights", [True, False])
def test_factored_state_of_adafactor_is_not_a_mismatch(with_weights: bool) -> None:
    old, weights = _stepped(torch.optim.Adafactor, ["a", "b"])
    stored = old.state_dict()
    assert stored["state"][0]["row_var"].shape != (3, 4)  # not shaped like its parameter
    check_state_shapes(stored, old, weights if with_weights else None)


def test_parameters_grouped_otherwise_keep_their_own_state() -> None:
    """Weight decay switched on (or another lr_scale) on resume splits the parameters into
    other groups: torch refused the state ("a different number of parameter groups")."""
    old, weights = _stepped(torch.optim.AdamW, ["a", "b"])
    params = {"a": torch.nn.Parameter(torch.ones(3, 4)), "b": torch.nn.Parameter(torch.ones(2))}
    new = torch.optim.AdamW(
        [
            {"params": [params["b"]], "param_names": ["b"], "weight_decay": 0.0},
            {"params": [params["a"]], "param_names": ["a"], "weight_decay": 0.1},
        ],
        lr=0.1,
    )
    stored = align_by_name(old.state_dict(), new)
    check_state_shapes(stored, new, weights)
    new.load_state_dict(stored)
    kept = old.state[old.param_groups[0]["params"][0]]["exp_avg"]  # a's
    assert torch.equal(new.state[params["a"]]["exp_avg"], kept)
    assert new.state[params["b"]]["exp_avg"].shape == (2,)
    assert [group["weight_decay"] for group in new.param_groups] == [0.0, 0.1]
