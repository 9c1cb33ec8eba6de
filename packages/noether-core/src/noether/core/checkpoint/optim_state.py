"""A checkpoint's optimizer state in a resumed run: fitted to this run's parameters before
torch loads it, this config's hyperparameters kept after, and a changed lr said.

torch maps a stored optimizer state to the parameters by position only. A model whose
modules were reordered between runs (same names, same groups) therefore received another
parameter's moments, loaded without a word, and failed at its first update with a bare
`The size of tensor a (3) must match ...`. noether's param groups carry `param_names`, so
the state is put back in the order of this run's names, and a state that still fits no
parameter is refused before training, naming the parameter.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from noether.core.checkpoint.writer import unwrap_model
from noether.core.distributed import is_rank0
from noether.core.models.base import ModelBase

logger = logging.getLogger(__name__)

PARAM_SHAPED_STATE = frozenset(
    {
        "exp_avg",
        "exp_avg_sq",
        "max_exp_avg_sq",
        "exp_inf",
        "momentum_buffer",
        "square_avg",
        "grad_avg",
        "sum",
        "acc_delta",
        "ax",
        "prev",
    }
)
"""State keys that torch's optimizers keep in the shape of their parameter. Only these are
compared when the checkpoint does not say which parameter a state was kept for: other
optimizers' state (Adafactor's row and column factors, a scalar `step`) has other shapes."""


class OptimizerStateMismatch(ValueError):
    """A stored optimizer state that was kept for a parameter of another shape."""


def align_by_name(stored: dict[str, Any], optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """`stored` with each group's states in the order of this optimizer's `param_names`.

    A group whose stored names are the same names in another order (reordered modules) is
    reordered; any other group is left as stored (the shape check judges it). Groups that
    hold the same parameters grouped otherwise (weight decay switched on, another lr_scale)
    are regrouped (`regroup_by_name`).
    """
    groups = stored.get("param_groups")
    if not isinstance(groups, list):
        return stored
    regrouped = regroup_by_name(stored, optimizer)
    if regrouped is not None:
        return regrouped
    if len(groups) != len(optimizer.param_groups):
        return stored
    aligned = []
    for saved, current in zip(groups, optimizer.param_groups, strict=True):
        old_names, new_names = saved.get("param_names"), current.get("param_names")
        if (
            isinstance(old_names, list)
            and isinstance(new_names, list)
            and old_names != new_names
            and sorted(old_names) == sorted(new_names)
            and len(set(old_names)) == len(old_names) == len(saved.get("params", []))
        ):
            ids = dict(zip(old_names, saved["params"], strict=True))
            saved = {
                **saved,
                "params": [ids[name] for name in new_names],
                "param_names": list(new_names),
            }
        aligned.append(saved)
    return {**stored, "param_groups": aligned}


def regroup_by_name(
    stored: dict[str, Any], optimizer: torch.optim.Optimizer
) -> dict[str, Any] | None:
    """`stored` with its parameters' states in this optimizer's groups, when both name the
    same parameters but group them otherwise; None when they are grouped alike, or a name is
    missing or repeated. Each parameter keeps its own state (moments, step); the groups'
    settings are this run's (the config's, kept after loading anyway)."""
    saved_groups = stored["param_groups"]
    saved_names = [_names(group) for group in saved_groups]
    new_names = [_names(group) for group in optimizer.param_groups]
    if [] in saved_names or [] in new_names:
        return None
    if [sorted(names) for names in saved_names] == [sorted(names) for names in new_names]:
        return None  # the same groups (perhaps reordered inside): `align_by_name` does that
    ids = {
        name: param_id
        for names, group in zip(saved_names, saved_groups, strict=True)
        for name, param_id in zip(names, group.get("params", []), strict=False)
    }
    flat_new = [name for names in new_names for name in names]
    if sorted(ids) != sorted(flat_new) or len(set(flat_new)) != len(flat_new):
        return None
    groups = [
        {
            **{key: value for key, value in group.items() if key != "params"},
            "params": [ids[name] for name in names],
        }
        for names, group in zip(new_names, optimizer.param_groups, strict=True)
    ]
    logger.info(
        "the optimizer's parameter groups changed since the checkpoint (%d -> %d groups: "
        "weight decay or lr_scale): each parameter keeps its own optimizer state",
        len(saved_groups),
        len(groups),
    )
    return {**stored, "param_groups": groups}


def _names(group: Mapping[str, Any]) -> list[str]:
    """A param group's `param_names`; [] where it has none."""
    names = group.get("param_names")
    return list(names) if isinstance(names, list) else []


def check_state_shapes(
    stored: Mapping[str, Any],
    optimizer: torch.optim.Optimizer,
    stored_weights: Mapping[str, Any] | None,
) -> None:
    """Raises when a stored state was kept for a parameter of another shape than the one
    that torch would hand it to (the same position in the same group). Groups of other
    sizes are left to torch's own refusal, which the caller explains: parameters regrouped
    by the config (weight decay, lr_scale), not a changed model.

    Where the stored group names its parameters and the checkpoint holds their weights, the
    stored parameter's shape is compared (exact, for any optimizer); otherwise the state
    tensors that torch's optimizers keep in their parameter's shape are.

    Raises:
        OptimizerStateMismatch: naming the parameter, its shape and the stored one.
    """
    groups = stored.get("param_groups")
    states = stored.get("state")
    if not isinstance(groups, list) or not isinstance(states, Mapping):
        return
    sizes = [len(group.get("params", [])) for group in groups]
    if sizes != [len(group["params"]) for group in optimizer.param_groups]:
        return
    for saved, current in zip(groups, optimizer.param_groups, strict=True):
        saved_ids = saved.get("params", [])
        old_names = saved.get("param_names") or [None] * len(saved_ids)
        new_names = current.get("param_names") or [None] * len(current["params"])
        for position, (saved_id, param) in enumerate(
            zip(saved_ids, current["params"], strict=False)
        ):
            name = new_names[position] if position < len(new_names) else None
            old_name = old_names[position] if position < len(old_names) else None
            old_shape = _stored_shape(old_name, stored_weights, states.get(saved_id))
            if old_shape is not None and old_shape != tuple(param.shape):
                label = repr(name) if name else f"number {position}"
                kept_for = f" {old_name!r}" if old_name and old_name != name else ""
                raise OptimizerStateMismatch(
                    f"its optimizer state of parameter {label} (group "
                    f"{current.get('name', optimizer.param_groups.index(current))!r}) was kept "
                    f"for a parameter{kept_for} of shape {old_shape}, but this model's has shape "
                    f"{tuple(param.shape)}"
                )


def _stored_shape(
    old_name: str | None, stored_weights: Mapping[str, Any] | None, state: Any
) -> tuple[int, ...] | None:
    """The shape of the parameter a stored state was kept for, None when unknown."""
    if old_name is not None and stored_weights is not None:
        weight = stored_weights.get(old_name)
        if isinstance(weight, torch.Tensor):
            return tuple(weight.shape)
    if isinstance(state, Mapping):
        for key in sorted(PARAM_SHAPED_STATE & state.keys()):
            value = state[key]
            if isinstance(value, torch.Tensor):
                return tuple(value.shape)
    return None


def keep_configured_hyperparameters(
    optimizer: torch.optim.Optimizer, configured: list[dict[str, Any]]
) -> None:
    """Puts the config's hyperparameters (`base_lr`, weight decay, betas, ...) back into the
    param groups after a checkpoint's optimizer state replaced them.

    `load_state_dict` restores the stored groups' options along with the moments, so an
    `lr` or `weight_decay` changed on resume (a change that resume accepts and logs) would
    otherwise be silently ignored; with an unchanged config the values are the same.
    """
    for group, options in zip(optimizer.param_groups, configured, strict=True):
        group.update(options)


def warn_if_lr_changed(
    model: nn.Module, stored_lrs: list[float], update: int, total_updates: int
) -> None:
    """Says when the resumed run's next update takes another lr than the checkpoint's run
    had set for it.

    Schedules span the whole run, so a raised stop criterion (extending a finished run)
    stretches them: the lr jumps (from the end of a cosine back up to its middle) and the
    remaining updates follow the new schedule. Resume accepts such a change; this says
    what it does to the learning rate, which the changed key alone does not tell.
    """
    model = unwrap_model(model)
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(model, ModelBase) or optimizer is None or not stored_lrs or not is_rank0():
        return
    multiplier = model.lr_multiplier(update)
    now = [float(group["base_lr"]) * multiplier for group in optimizer.param_groups]
    # the first group whose lr changed (an lr_scale change moves its groups only), named
    # when it is not the one `optim/lr` logs
    pairs = enumerate(zip(now, stored_lrs, strict=False))
    index = next((i for i, (a, b) in pairs if not math.isclose(a, b, abs_tol=1e-15)), None)
    if len(now) != len(stored_lrs) or index is None:
        return
    group = f" (parameter group {optimizer.param_groups[index].get('name') or index!r})"
    schedule = model.model_config.optimizer.schedule if model.model_config.optimizer else None
    logger.warning(
        "the learning rate of update %d is %.6g, not %.6g as the checkpoint's run set it%s: "
        "this config's optimizer%s sets it otherwise%s",
        update + 1,
        now[index],
        stored_lrs[index],
        group if index > 0 else "",
        "" if schedule is None else f" or {schedule.kind} schedule",
        "" if schedule is None else f" (the schedule now spans {total_updates} updates)",
    )
