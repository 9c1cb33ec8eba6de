"""Whether the training data holds every key the trainer's config names, read from one item.

A `<field>_target` or a forward property that the train dataset lacks would otherwise be
found at the first micro-batch of a run, after the model was built and moved to its device
(and never by `--dry-run`), and one that a validation set lacks at its first evaluation,
epochs into the run. `check_train_item` reads item 0 of the `train` dataset and of each
dataset a callback evaluates once the datasets are built and before the model is, and names
the config key, the missing item key and the keys the item has.

Only keys that the config names are checked: the trainer class says which (its classmethod
`item_keys(trainer_config)`, see `noether.core.trainer.base.BaseTrainer.item_keys`), so a
trainer whose own `train_step` reads other keys is not refused, and one that collates items
into other keys can return `{}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from typing import Any

from noether.config import BaseTrainerConfig
from noether.core.build import ConfigKeyError
from noether.core.data.batch_items import note_reading
from noether.core.data.container import DataContainer
from noether.core.rng import get_rng_states, set_rng_states

TRAIN = "train"
SHOWN_KEYS = 20
"""Keys of the item that a message lists."""


class MissingItemKeyError(ConfigKeyError):
    """An item of the train dataset lacks a key that the trainer's config names (a
    BuildError: `noether-train` reports it as a message at that key's file and line)."""


def trainer_item_keys(trainer_config: BaseTrainerConfig[Any]) -> dict[str, list[str]]:
    """The item keys that the trainer of `trainer_config` will read, by the key path of the
    config value that names them (`trainer.target_properties`); {} for a runtime that does
    not say (a factory function, or a trainer class that opts out)."""
    runtime = trainer_config.load_target()
    ask = getattr(runtime, "item_keys", None)
    if not callable(ask):
        return {}
    named: Mapping[str, Sequence[str]] = ask(trainer_config)
    return {f"trainer.{key}": list(keys) for key, keys in named.items() if keys}


def trains(trainer_config: BaseTrainerConfig[Any]) -> bool:
    """Whether the run reads training batches at all (a stop criterion of 0 only evaluates)."""
    return any((trainer_config.max_epochs, trainer_config.max_updates, trainer_config.max_samples))


def _names(keys: Sequence[Any]) -> str:
    names = [str(key) for key in keys]
    more = len(names) - SHOWN_KEYS
    shown = ", ".join(names[:SHOWN_KEYS]) + (f", ... ({len(names)} in all)" if more > 0 else "")
    return shown or "none"


def read_first_item(data_container: DataContainer, name: str = TRAIN) -> Any:
    """Item 0 of dataset `name`; an error raised while reading it gets a note naming the
    dataset and the index (as a run's data loader adds).

    The random states (python, numpy, torch) are restored afterwards: a dataset that draws
    from them (random augmentation) must not change the model's initialization or the run's
    data order by being checked.
    """
    dataset = data_container.get_dataset(name)
    states = get_rng_states()
    try:
        return dataset[0]
    except (Exception, SystemExit) as error:
        note_reading(error, name, [0])
        raise
    finally:
        set_rng_states(states)


def evaluated_datasets(trainer_config: BaseTrainerConfig[Any]) -> dict[str, str]:
    """The datasets that callbacks run the trainer's loss on (`dataset_key`, as offline_loss),
    by the key path of the callback that names each first."""
    found: dict[str, str] = {}
    for index, callback in enumerate(trainer_config.callbacks):
        name = getattr(callback, "dataset_key", None)
        if isinstance(name, str) and name != TRAIN:
            found.setdefault(name, f"trainer.callbacks.{index}")
    return found


def check_train_item(trainer_config: BaseTrainerConfig[Any], data_container: DataContainer) -> int:
    """Reads item 0 of the train dataset, and of each dataset a callback evaluates, and checks
    that it holds every key the trainer's config names (`trainer_item_keys`): a validation
    set whose items differ was found only at its first evaluation, epochs into the run.
    Returns how many keys were checked (0 when no key is named or there is no item to read;
    other checks say why).

    Raises:
        MissingItemKeyError: at the config key, the item keys it names that the item lacks
            and the keys the item has (or the item's type, when it is not a dict).
        ConfigKeyError: at the callback, a dataset it evaluates has no items (the run's
            loader refuses it too, but only once built: `--dry-run` passed it).
        Exception: what the user's dataset raised while reading the item, with a note.
    """
    for name, callback in evaluated_datasets(trainer_config).items():
        dataset: Any = data_container.get_dataset(name) if name in data_container else None
        if isinstance(dataset, Sized) and len(dataset) == 0:
            raise ConfigKeyError(f"dataset '{name}' has no samples to evaluate", callback)
    wanted = trainer_item_keys(trainer_config)
    if not wanted:
        return 0
    readers = {TRAIN: ""} if trains(trainer_config) else {}
    for name, callback in evaluated_datasets(trainer_config).items():
        readers[name] = f", which {callback} evaluates,"
    checked = 0
    for name, reader in readers.items():
        if name in data_container and _check_first_item(data_container, name, reader, wanted):
            checked = len({key for keys in wanted.values() for key in keys})
    return checked


def _check_first_item(
    data_container: DataContainer, name: str, reader: str, wanted: dict[str, list[str]]
) -> bool:
    """Checks item 0 of dataset `name`; False when it has none to read."""
    dataset: Any = data_container.get_dataset(name)
    if not isinstance(dataset, Sized) or len(dataset) == 0:  # no item 0 to read
        return False
    item = read_first_item(data_container, name)
    where = f"item 0 of dataset '{name}' ({type(dataset).__name__}){reader}"
    first_key = next(iter(wanted))
    if not isinstance(item, Mapping):
        raise MissingItemKeyError(
            f"names item keys ({_names(wanted[first_key])}), but {where} is a "
            f"{type(item).__name__}, not a dict keyed by name",
            first_key,
        )
    for key_path, keys in wanted.items():
        missing = [key for key in keys if key not in item]
        if missing:
            raise MissingItemKeyError(
                f"{where} has no {_names(missing)}; its keys: {_names(list(item))}", key_path
            )
    return True
