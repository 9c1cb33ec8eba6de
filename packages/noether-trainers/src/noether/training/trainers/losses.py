"""Per-field loss functions and the resolver that turns a `loss_fn` name into a callable.

Every loss has the signature `(input, target) -> Tensor` (a 0-d tensor). A name is resolved
in this order: a built-in short name, a name published under the `noether.losses` entry-point
group, or a dotted import path (`my_project.losses:weighted_huber` or
`my_project.losses.weighted_huber`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from noether.config.loss_loader import UnknownLossError, load_loss
from noether.config.losses import BUILTIN_LOSSES as BUILTIN_LOSS_NAMES
from noether.config.losses import known_losses

LossFn = Callable[[Tensor, Tensor], Tensor]
"""A loss: prediction and target of the same shape in, a scalar tensor out."""

REL_L2_EPS = 1e-12
"""Keeps the relative error finite for an all-zero target."""


def mse(input: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over all elements."""
    return F.mse_loss(input, _floating(target, input))


def l1(input: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over all elements."""
    return F.l1_loss(input, _floating(target, input))


def smooth_l1(input: Tensor, target: Tensor) -> Tensor:
    """Smooth L1 (beta 1): quadratic near zero, linear beyond, robust to outliers."""
    return F.smooth_l1_loss(input, _floating(target, input), beta=1.0)


def huber(input: Tensor, target: Tensor) -> Tensor:
    """Huber loss (delta 1)."""
    return F.huber_loss(input, _floating(target, input), delta=1.0)


def rel_l2(input: Tensor, target: Tensor) -> Tensor:
    """Relative L2 error ||input - target|| / ||target||, per sample, averaged over the batch.

    The first dimension is the batch; the norms run over all other dimensions, so each sample's
    field counts as one vector (the usual error measure of field surrogates). A 1-d input is
    one sample.
    """
    target = _floating(target, input)
    if input.ndim <= 1:
        input, target = input.reshape(1, -1), target.reshape(1, -1)
    diff = (input - target).flatten(start_dim=1)
    ref = target.flatten(start_dim=1)
    error = torch.linalg.vector_norm(diff, dim=1)
    norm = torch.linalg.vector_norm(ref, dim=1)
    relative: Tensor = error / norm.clamp_min(REL_L2_EPS)
    return relative.mean()


def _floating(target: Tensor, input: Tensor) -> Tensor:
    """An integer or boolean target (counts, masks) as the input's dtype: torch's losses
    promote some of them, while its norms refuse them and huber's backward fails on them."""
    if target.is_floating_point() or target.is_complex():
        return target
    return target.to(input.dtype)


BUILTIN_LOSSES: dict[str, LossFn] = {name: globals()[name] for name in BUILTIN_LOSS_NAMES}
"""The built-in losses by name: each is the function of that name above. The names are
noether-config's list of what this package publishes under `noether.losses` (a test checks
both against the entry points)."""


def known_loss_names() -> list[str]:
    """Built-in names and names published under `noether.losses`."""
    return known_losses()


def resolve_loss(name: str) -> LossFn:
    """Returns the loss callable that `name` refers to (see `noether.config.loss_loader`).

    Raises:
        UnknownLossError: the name is unknown (the message lists the known names, closest
            first), its entry point is ambiguous or broken, or the dotted path does not import
            or names something that is not callable.
    """
    return load_loss(name)


__all__ = ["BUILTIN_LOSSES", "LossFn", "UnknownLossError", "known_loss_names", "resolve_loss"]
