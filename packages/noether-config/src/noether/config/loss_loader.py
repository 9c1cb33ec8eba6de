"""Importing the loss that a `LossName` field names, where a run (or its preflight) needs it.

Validation checks a loss name without importing anything (`noether.config.losses`); this
module imports it: the published entry point, or the dotted path. `noether-train` loads every
`LossName` field of the config before it makes a run folder, so a plug-in's loss whose module
fails to import is reported at its key, not after the datasets and model were built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import AfterValidator, BaseModel

from noether.config.entry_points import (
    DuplicateKindError,
    find_kind,
    import_dotted,
    split_dotted_path,
)
from noether.config.errors import type_with_article
from noether.config.losses import LOSS_ENTRY_POINT_GROUP, check_loss_name, unknown_loss_message
from noether.config.registry import KindError
from noether.config.similar_names import closest_first


class UnknownLossError(KindError, ValueError):
    """A loss name that names no published loss and no importable callable.

    A KindError (a loss name is resolved like a kind), so `noether-train` reports it as a
    message rather than a traceback.
    """


def loss_fields(config: BaseModel) -> list[str]:
    """The fields of `config` declared as `LossName` (e.g. `loss_fn`)."""
    return [
        name
        for name, field in type(config).model_fields.items()
        if any(
            isinstance(meta, AfterValidator) and meta.func is check_loss_name
            for meta in field.metadata
        )
    ]


def load_loss(name: str) -> Callable[..., Any]:
    """The loss callable that `name` names: a name published under `noether.losses` (the
    built-in ones by noether-trainers) or a dotted import path; a class is built without
    arguments (`torch.nn.L1Loss`).

    Raises:
        UnknownLossError: the name is unknown (the known names, closest first), published
            twice, its entry point or module does not import, or it is not callable.
    """
    if ":" in name or "." in name:
        return _import_loss(name)
    try:  # only this name's duplicates: another ambiguous name leaves it usable
        entry = find_kind(LOSS_ENTRY_POINT_GROUP, name)
    except DuplicateKindError as error:
        raise UnknownLossError(str(error)) from None
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


def _import_loss(path: str) -> Callable[..., Any]:
    try:
        module_name, attribute = split_dotted_path(path)
    except ValueError:
        raise UnknownLossError(
            f"loss path {path!r} must look like package.module:function"
        ) from None
    try:
        import_dotted(module_name, "")  # the module alone first: what it raises is its own
    except ImportError as error:
        raise UnknownLossError(f"cannot import loss {path!r}: {error}") from None
    except Exception as error:  # the module raised at import (a bug there): named
        raise UnknownLossError(
            f"cannot import loss {path!r}: {type(error).__name__}: {error}"
        ) from None
    try:
        obj = import_dotted(module_name, attribute)
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


def _check_callable(name: str, obj: object) -> Callable[..., Any]:
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
            f"loss {name!r} names {type_with_article(obj)}, not a callable "
            "(input, target) -> Tensor"
        )
    return obj


__all__ = ["UnknownLossError", "load_loss", "loss_fields"]
