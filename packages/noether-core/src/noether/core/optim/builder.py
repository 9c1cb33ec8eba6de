"""Optimizer construction with parameter groups, and gradient clipping.

Every parameter lands in a group keyed by (weight decay, lr scale). Each group stores
`base_lr` (the peak lr times its scale), `lr_scale`, and a `name`, so schedules set
`lr = base_lr * multiplier` and loggers can tell groups apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from noether.config.schemas.optimizer import OptimizerConfig

# Fields of OptimizerConfig that noether handles itself; all other fields of a kind's schema
# are keyword arguments of its torch optimizer class (momentum, betas, eps, ...).
_NOETHER_FIELDS = frozenset(OptimizerConfig.model_fields) - {"weight_decay"}

_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES = (*_NORM_TYPES, nn.RMSNorm)


def norm_parameter_names(model: nn.Module) -> set[str]:
    """Names of parameters that belong to normalisation layers."""
    names: set[str] = set()
    for module_name, module in model.named_modules():
        if isinstance(module, _NORM_TYPES):
            for param_name, _ in module.named_parameters(recurse=False):
                names.add(f"{module_name}.{param_name}" if module_name else param_name)
    return names


def is_no_weight_decay(name: str, param: nn.Parameter, norm_names: set[str]) -> bool:
    """Biases, normalisation parameters and other 1-d tensors get no weight decay."""
    return param.ndim <= 1 or name.endswith(".bias") or name == "bias" or name in norm_names


def names_part(key: str, name: str) -> bool:
    """Whether `key` is whole parts of the dotted parameter name: `mlp.1` is part of
    `mlp.1.weight`, not of `mlp.10.weight` (a substring, which scaled the wrong layers)."""
    return f".{key}." in f".{name}."


def lr_scale_for(name: str, lr_scale: dict[str, float]) -> tuple[str | None, float]:
    """The longest key of `lr_scale` that is part of `name`, and its scale (1.0 when none)."""
    matches = [key for key in lr_scale if names_part(key, name)]
    if not matches:
        return None, 1.0
    key = max(matches, key=len)
    return key, lr_scale[key]


def check_lr_scale_keys(lr_scale: dict[str, float], model: nn.Module) -> None:
    """Every key of `lr_scale` is part of some parameter's name (frozen ones count).

    A key that matches nothing is a typo or a renamed module, and the parameters it meant
    would train at the full lr without a word.

    Raises:
        ValueError: naming the keys that match nothing and some of the parameter names.
    """
    names = [name for name, _ in model.named_parameters()]
    unmatched = [key for key in lr_scale if not any(names_part(key, name) for name in names)]
    if unmatched:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise ValueError(
            f"model.optimizer.lr_scale: {', '.join(map(repr, unmatched))} is part of no "
            f"parameter name of {type(model).__name__} (a key is whole parts of a dotted name, "
            f"like 'head' or 'blocks.0'; its parameters: {shown})"
        )


def build_param_groups(config: OptimizerConfig, model: nn.Module) -> list[dict[str, Any]]:
    """Groups the trainable parameters of `model` by weight decay and lr scale.

    Raises:
        ValueError: a key of `lr_scale` names no parameter.
    """
    check_lr_scale_keys(config.lr_scale, model)
    norm_names = norm_parameter_names(model) if config.exclude_bias_and_norm_from_wd else set()
    groups: dict[tuple[float, str | None], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_wd = config.exclude_bias_and_norm_from_wd and is_no_weight_decay(name, param, norm_names)
        weight_decay = 0.0 if no_wd else config.weight_decay
        scale_key, scale = lr_scale_for(name, config.lr_scale)
        group = groups.get((weight_decay, scale_key))
        if group is None:
            parts = [scale_key] if scale_key is not None else []
            if no_wd and config.weight_decay > 0:
                parts.append("no_wd")
            group = {
                "name": "/".join(parts) or "default",
                "params": [],
                "param_names": [],
                "weight_decay": weight_decay,
                "lr_scale": scale,
                "base_lr": config.lr * scale,
                "lr": config.lr * scale,
            }
            groups[(weight_decay, scale_key)] = group
        group["params"].append(param)
        group["param_names"].append(name)
    # the default group first: `optim/lr` logs the first group
    return sorted(groups.values(), key=lambda g: (g["name"] != "default", g["name"]))


def optimizer_kwargs(config: OptimizerConfig) -> dict[str, Any]:
    """Keyword arguments of the torch optimizer class: the kind's own fields and weight decay."""
    kwargs = {
        key: getattr(config, key) for key in type(config).model_fields if key not in _NOETHER_FIELDS
    }
    return {key: tuple(v) if isinstance(v, list) else v for key, v in kwargs.items()}


def build_optimizer(config: OptimizerConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Builds the optimizer named by the config's `target` over `model`'s trainable parameters.

    Raises:
        ValueError: the model has no trainable parameter.
    """
    groups = build_param_groups(config, model)
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameter to optimize")
    optimizer_class: Any = config.load_target()
    optimizer = optimizer_class(groups, lr=config.lr, **optimizer_kwargs(config))
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{config.target} is not a torch.optim.Optimizer")
    return optimizer


def clip_gradients(
    parameters: Iterable[torch.Tensor],
    clip_grad_norm: float | None = None,
    clip_grad_value: float | None = None,
) -> torch.Tensor | None:
    """Clips gradients in place: elementwise to ±clip_grad_value, then to a global norm.

    Returns:
        The total gradient norm before norm clipping, or None when no norm clipping was asked.
    """
    params = [p for p in parameters if p.grad is not None]
    if clip_grad_value is not None:
        torch.nn.utils.clip_grad_value_(params, clip_grad_value)
    if clip_grad_norm is not None:
        return torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
    return None
