"""Whether every component of an experiment can be built: each kind's `target` imports.

`noether-train` asks this right after validating the config, before it makes a run folder or
builds anything, so a kind whose package is missing costs no dataset build and leaves no
folder behind; `--dry-run` asks it too. A runtime class may also check what only it can tell
from its config with a classmethod `check_config(config)` that raises `ComponentConfigError`;
the loss that a `LossName` field names (a trainer's `loss_fn`) is imported here for every
kind.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from noether.config import KindError, RegistryBase
from noether.config.loss_loader import UnknownLossError, load_loss, loss_fields
from noether.core.failures import describe_failure


class MissingImplementationError(KindError):
    """One or more kinds of a config whose implementation cannot be imported (named each)."""


class ComponentConfigError(ValueError):
    """What a runtime class's `check_config` found wrong with the value of `key` (a field of
    its config, e.g. `loss_fn`), reported at that key's file and line before anything is built."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def components(node: Any, path: str = "") -> Iterator[tuple[str, RegistryBase]]:
    """Every config in `node` that selects a runtime class (a `kind`), with its key path,
    depth first; a run builds each, so one without a `target` is reported too.

    E.g. `("model", ...)`, `("model.optimizer.schedule", ...)`, `("trainer.callbacks.0", ...)`.
    """
    if isinstance(node, RegistryBase):
        yield path or "<root>", node
    if isinstance(node, BaseModel):
        children: Any = ((name, getattr(node, name)) for name in type(node).model_fields)
    elif isinstance(node, dict):
        children = node.items()
    elif isinstance(node, list | tuple):
        children = enumerate(node)
    else:
        return
    for key, child in children:
        yield from components(child, f"{path}.{key}" if path else str(key))


def _runtime_bases() -> dict[type[RegistryBase], type]:
    """The class that the runtime class of each root's kinds must subclass (roots not listed:
    a torch dataset class, checked where it is used)."""
    import torch

    from noether.config import (
        BaseTrainerConfig,
        CallbackConfig,
        ModelConfig,
        OptimizerConfig,
        ScheduleConfig,
        TrackerConfig,
    )
    from noether.core.callbacks.base import CallbackBase
    from noether.core.models.base import ModelBase
    from noether.core.optim.schedules import ScheduleBase
    from noether.core.trackers.base import TrackerBase
    from noether.core.trainer.base import BaseTrainer

    return {
        ModelConfig: ModelBase,
        CallbackConfig: CallbackBase,
        TrackerConfig: TrackerBase,
        BaseTrainerConfig: BaseTrainer,
        OptimizerConfig: torch.optim.Optimizer,
        ScheduleConfig: ScheduleBase,
    }


def _unaccepted_argument(component: RegistryBase, runtime: object) -> tuple[str, str] | None:
    """(the field, why) when an optimizer kind's own field is no argument of its torch class
    (a schema of the user's that names `foo` for a class without it), else None: the run
    would fail when it builds the optimizer, after its datasets and model were built."""
    from noether.config import OptimizerConfig
    from noether.core.optim.builder import optimizer_kwargs

    if not isinstance(component, OptimizerConfig) or not isinstance(runtime, type):
        return None
    try:
        parameters = inspect.signature(runtime).parameters
    except (TypeError, ValueError):  # no signature to read: the build will tell
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    for key in optimizer_kwargs(component):
        if key not in parameters:
            accepted = ", ".join(name for name in parameters if name not in ("self", "params"))
            return key, (
                f"{component.target!r} takes no argument {key!r} (its arguments: {accepted})"
            )
    return None


def _unfit_constructor(component: RegistryBase, runtime: object) -> str | None:
    """Why the run's call of the runtime class would not fit its constructor (see
    `build.build_component`), or None: told before anything is built, where a run found it
    after making its run folder (and, for a callback, building the model)."""
    from noether.core.build import build_keywords, constructor_mismatch

    keywords = build_keywords(component)
    if keywords is None or not callable(runtime):
        return None
    try:
        signature = inspect.signature(runtime)
    except (TypeError, ValueError):  # no signature to read: the build will tell
        return None
    kwargs = dict.fromkeys(keywords)
    try:
        signature.bind(component, **kwargs)
    except TypeError as error:
        return constructor_mismatch(component, runtime, kwargs, error)
    return None


def _wrong_base(component: RegistryBase, runtime: object) -> str | None:
    """Why a runtime class cannot serve its kind's root (it subclasses none of the root's
    base), or None; a factory function is not checked here."""
    if not isinstance(runtime, type):
        return None
    for root, base in _runtime_bases().items():
        if isinstance(component, root) and not issubclass(runtime, base):
            return (
                f"{component.target!r} is not a {base.__module__}.{base.__qualname__} "
                f"subclass, which a {root.__name__} kind's runtime class must be"
            )
    return None


def _loss_problem(component: RegistryBase) -> tuple[str, str] | None:
    """(the field, why) for a `LossName` field whose loss does not import (a plug-in's module
    that fails at import passes validation, which reads it without importing), or None."""
    for field in loss_fields(component):
        try:
            load_loss(getattr(component, field))
        except UnknownLossError as error:
            return field, str(error)
    return None


def _import_problem(component: RegistryBase) -> tuple[str, str] | None:
    """(the key it is about, relative to the component: "" for its kind; why), or None."""
    step = "importing"
    try:
        runtime = component.load_target()
        wrong = _wrong_base(component, runtime)
        if wrong is not None:
            return "", wrong
        unaccepted = _unaccepted_argument(component, runtime)
        if unaccepted is not None:
            return unaccepted
        unfit = _unfit_constructor(component, runtime)
        if unfit is not None:
            return "", unfit
        check = getattr(runtime, "check_config", None)
        if callable(check):
            step = "checking the config of"
            check(component)
        return _loss_problem(component)
    except ComponentConfigError as error:
        return error.key, str(error)
    except KindError as error:
        return "", str(error)
    except ImportError as error:
        return "", f"importing {component.target!r} failed: {error}"
    except AttributeError:
        module, _, name = component.target.partition(":")
        return "", f"{component.target!r}: module {module!r} has no {name!r}"
    except Exception as error:  # the runtime module or its check_config raised (a bug there)
        return "", f"{step} {component.target!r} failed: " + "; ".join(
            line.strip() for line in describe_failure(error)
        )


def check_targets(config: BaseModel) -> int:
    """Imports the runtime class of every component of `config` and runs its `check_config`.

    Returns:
        How many components were checked.

    Raises:
        MissingImplementationError: some could not be imported or checked; one line per
            component with its file and line, key path, kind and why (the package to
            install, when it is missing).
    """
    found = list(components(config))
    where = getattr(config, "where", None)  # an ExperimentConfig knows its files' lines
    problems = []
    for path, component in found:
        problem = _import_problem(component)
        if problem is None:
            continue
        key, why = problem
        site = where(f"{path}.{key or 'kind'}") if where is not None else ""
        at = f"{site}: " if site else ""
        about = f"{path}.{key}" if key else f"{path} (kind {component.kind!r})"
        problems.append(f"  {at}{about}: {why}")
    if problems:
        raise MissingImplementationError(
            "cannot build this experiment, nothing was built:\n" + "\n".join(problems)
        )
    return len(found)
