"""Whether the model's forward takes the keys that the trainer passes to it by name.

A forward that lacks a parameter for a forward property (or needs one that the config does
not list) fails at the first micro-batch as `TypeError: forward() got an unexpected keyword
argument`, after the datasets, the model and the data loader were built, naming no config
key, and `--dry-run` passed it. `check_forward_signature` compares the forward's signature
with the keys once the model is built, before the first update.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sized
from typing import Any

import torch

from noether.config import BaseTrainerConfig
from noether.core.build import ConfigKeyError
from noether.core.data.container import DataContainer
from noether.core.data.item_keys import TRAIN, evaluated_datasets, read_first_item, trains
from noether.core.failures import defined_at
from noether.core.trainer.base import says_what_train_step_passes
from noether.core.trainer.loop import drop_metadata

FORWARD_PROPERTIES = "trainer.forward_properties"


class ForwardSignatureError(ConfigKeyError):
    """The model's forward does not take the keys the trainer passes to it (a BuildError:
    `noether-train` reports it at the line of `trainer.forward_properties`)."""


def check_forward_signature(
    trainer_config: BaseTrainerConfig[Any], data_container: DataContainer, model: torch.nn.Module
) -> None:
    """Checks `model.forward` against the keys of a batch (of the train dataset and of each
    one an evaluation callback runs the model on) that the trainer passes to it by name (its
    classmethod `forward_keys`; nothing is checked where it says None, where a subclass
    overrides `train_step` but not `forward_keys`, or where the forward's signature is
    unknown).

    Raises:
        ForwardSignatureError: at `trainer.forward_properties`, the keys the forward does not
            take, or the parameters it needs that the keys leave out.
    """
    runtime = trainer_config.load_target()
    ask = getattr(runtime, "forward_keys", None)
    if not callable(ask):
        return
    if isinstance(runtime, type) and not says_what_train_step_passes(runtime):
        return
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):  # a builtin or C-implemented forward
        return
    given = bool(trainer_config.forward_properties)
    names = _datasets_run_through_the_model(trainer_config, data_container)
    for name in names[:1] if given else names:  # given: the same keys for every dataset
        item_keys: list[str] = []
        if not given:  # then the item's keys go to the forward
            item = _first_item(data_container, name)
            if item is None:
                continue
            item_keys = [str(key) for key in drop_metadata(dict(item))]
        keys: list[str] | None = ask(trainer_config, item_keys)
        if keys is None:
            return
        problem = _unmatched(signature, keys)
        if problem is None:
            continue
        passed = ", ".join(keys) or "no keys"
        if given:
            source = "its forward_properties"
        else:
            source = (
                f"every key of the {name} items that is not a target: forward_properties is unset"
            )
        raise ForwardSignatureError(
            f"{defined_at(model.forward)} {problem}; the trainer passes it {passed} ({source}); "
            "list in forward_properties the keys the forward takes",
            FORWARD_PROPERTIES,
        )


def _datasets_run_through_the_model(
    trainer_config: BaseTrainerConfig[Any], data_container: DataContainer
) -> list[str]:
    """The train dataset (when the run trains) and those the callbacks evaluate the model on:
    a val item with a key that train items lack was passed to the forward only at the first
    evaluation, after a whole epoch."""
    names = [TRAIN] if trains(trainer_config) else []
    names += evaluated_datasets(trainer_config)
    return [name for name in names if name in data_container]


def _first_item(data_container: DataContainer, name: str) -> Mapping[str, Any] | None:
    """Item 0 of dataset `name` when it is a dict, else None (other checks say why)."""
    dataset = data_container.get_dataset(name)
    if not isinstance(dataset, Sized) or len(dataset) == 0:
        return None
    item = read_first_item(data_container, name)
    return item if isinstance(item, Mapping) else None


def _unmatched(signature: inspect.Signature, keys: list[str]) -> str | None:
    """What in a call `forward(**{key: ...})` would fail, or None when it would bind."""
    parameters = list(signature.parameters.values())
    by_name = [
        parameter.name
        for parameter in parameters
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]
    takes_any = any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters)
    unexpected = [] if takes_any else [key for key in keys if key not in by_name]
    if unexpected:
        takes = ", ".join(by_name) or "no keyword arguments"
        return f"takes no {', '.join(unexpected)} (it takes {takes})"
    needed = [
        parameter.name
        for parameter in parameters
        if parameter.default is parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and (parameter.name not in keys or parameter.kind is parameter.POSITIONAL_ONLY)
    ]
    if needed:
        return f"needs {', '.join(needed)}"
    return None
