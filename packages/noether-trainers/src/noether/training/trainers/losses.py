"""Per-field loss functions and the resolver that turns a `loss_fn` name into a callable.

Every loss has the signature `(input, target) -> Tensor` (a 0-d tensor). A name is resolved
in this order: a built-in short name, a name published under the `noether.losses` entry-point
group, or a dotted import path (`my_project.losses:weighted_huber` or
`my_project.losses.weighted_huber`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from noether.config import KindError
from noether.config.entry_points import (
    DuplicateKindError,
    find_kind,
    import_dotted,
    split_dotted_path,
)
from noether.config.losses import BUILTIN_LOSSES as BUILTIN_LOSS_NAMES
from noether.config.losses import LOSS_ENTRY_POINT_GROUP, known_losses, unknown_loss_message
from noether.config.similar_names import closest_first

LossFn = Callable[[Tensor, Tensor], Tensor]
"""A loss: prediction and target of the same shape in, a scalar tensor out."""

REL_L2_EPS = 1e-12
"""Keeps the relative error finite for an all-zero target."""


class UnknownLossError(KindError, ValueError):
    """A `loss_fn` that names no built-in loss, no published loss and no importable callable.

    A KindError (a loss name is resolved like a kind), so `noether-train` reports it as a
    message rather than a traceback.
    """


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
    """Returns the loss callable that `name` refers to.

    Raises:
        UnknownLossError: the name is unknown (the message lists the known names, closest
            first), its entry point is ambiguous or broken, or the dotted path does not import
            or names something that is not callable.
    """
    if ":" in name or "." in name:
        return _import_loss(name)
    try:  # only this name's duplicates: another ambiguous name leaves it usable
        entry = find_kind(LOSS_ENTRY_POINT_GROUP, name)
    except DuplicateKindError as error:
        raise UnknownLossError(str(error)) from None
    if name in BUILTIN_LOSSES:
        return BUILTIN_LOSSES[name]
    if entry is None:
        raise UnknownLossError(
            f"{unknown_loss_message(name)} "
            "(or give a dotted import path such as my_project.losses:my_loss)"
        )
    try:
        loss = entry.load()
    except Exception as error:  # a broken plug-in (ImportError, SyntaxError, ...): named
        raise UnknownLossError(
            f"loss {name!r} is published by {entry.distribution} as {entry.value!r}, "
            f"which cannot be loaded: {type(error).__name__}: {error}"
        ) from None
    return _check_callable(name, loss)


def _import_loss(path: str) -> LossFn:
    try:
        module_name, attribute = split_dotted_path(path)
    except ValueError:
        raise UnknownLossError(
            f"loss path {path!r} must look like package.module:function"
        ) from None
    try:
        obj = import_dotted(module_name, attribute)
    except ImportError as error:
        raise UnknownLossError(f"cannot import loss {path!r}: {error}") from None
    except AttributeError:
        raise UnknownLossError(
            f"cannot import loss {path!r}: module {module_name!r} has no attribute "
            f"{attribute!r}{_did_you_mean(module_name, attribute)}"
        ) from None
    return _check_callable(path, obj)


def _did_you_mean(module_name: str, attribute: str) -> str:
    """`; did you mean 'L1Loss'?` from the module's public names (it imported already)."""
    module = importlib.import_module(module_name)
    public = (name for name in dir(module) if not name.startswith("_"))
    close = closest_first(attribute.split(".")[-1], public, cutoff=0.6, limit=3)
    return f"; did you mean {', '.join(repr(name) for name in close)}?" if close else ""


def _check_callable(name: str, obj: object) -> LossFn:
    if isinstance(obj, type):
        # A loss module class (e.g. torch.nn.L1Loss) is built with its default arguments.
        try:
            obj = obj()
        except TypeError as error:
            raise UnknownLossError(
                f"loss {name!r} is a class that cannot be built without arguments: {error}"
            ) from None
    if not callable(obj):
        raise UnknownLossError(
            f"loss {name!r} names a {type(obj).__name__}, not a callable (input, target) -> Tensor"
        )
    return obj
