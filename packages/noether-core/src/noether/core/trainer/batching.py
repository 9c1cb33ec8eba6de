"""Updates per epoch, micro-batches per device and update, and splitting a batch into inputs
and targets."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from noether.config.batching import MicroBatchPlan, split_batch
from noether.core.counters import updates_per_epoch

if TYPE_CHECKING:
    from noether.config import BaseTrainerConfig
    from noether.core.data.container import DataContainer

_logger = logging.getLogger(__name__)


def epoch_updates(config: BaseTrainerConfig[Any], data_container: DataContainer) -> int:
    """Updates per epoch of a run of `config` on `data_container` (1 when nothing trains).

    Raises:
        ValueError: training without a `train` dataset, or on fewer samples than one update.
    """
    trains = any((config.max_epochs, config.max_updates, config.max_samples))
    if "train" not in data_container:
        if trains:
            raise ValueError(
                f"a 'train' dataset is required to train (datasets: {data_container.keys()})"
            )
        return 1
    length = len(data_container.get_dataset("train"))  # type: ignore[arg-type]
    return updates_per_epoch(length, config.effective_batch_size, trains)


def micro_batch_plan(
    effective_batch_size: int,
    max_batch_size: int | None,
    world_size: int,
    disable_gradient_accumulation: bool = False,
) -> MicroBatchPlan:
    """The micro-batches of one update on this device (`noether.config.batching.split_batch`,
    the rule config validation applies too): the effective batch spread over `world_size`
    devices, split into the fewest micro-batches of at most `max_batch_size`, uneven if need be.

    Raises:
        ValueError: effective_batch_size is not a multiple of world_size.
    """
    plan = split_batch(
        effective_batch_size, max_batch_size, world_size, disable_gradient_accumulation
    )
    if plan.accumulation_steps > 1:
        _logger.info(
            "batch of %d per device > max_batch_size %s: %d accumulation steps of %s samples",
            plan.batch_size,
            max_batch_size,
            plan.accumulation_steps,
            "+".join(map(str, plan.sizes)),
        )
    return plan


class BatchSplitter:
    """Splits a batch into the model's inputs and the loss's targets.

    The first batch is checked: a missing key is an error naming it and the keys that exist;
    keys used by neither side are warned about once, in the run's log (console and train.log)
    and naming the config keys to change: the cause is the config, and a Python warning would
    point at noether's own line and stay out of train.log. Later batches are split without checks
    (a key that goes missing later still fails with the same message). With no
    forward_properties, every key that is not a target goes to the model.
    """

    def __init__(self, forward_properties: Sequence[str], target_properties: Sequence[str]):
        self.forward_properties = list(forward_properties)
        self.target_properties = list(target_properties)
        self._checked = False

    def _check(self, batch: dict[str, Any]) -> None:
        self._checked = True
        for role, keys in (
            ("forward", self.forward_properties),
            ("target", self.target_properties),
        ):
            missing = [key for key in keys if key not in batch]
            if missing:
                raise KeyError(
                    f"{role}_properties {missing} not in the batch (batch keys: {sorted(batch)})"
                )
        if self.forward_properties:
            extra = sorted(set(batch) - set(self.forward_properties) - set(self.target_properties))
            if extra:
                _logger.warning(
                    "batch keys %s are in neither trainer.forward_properties %s nor "
                    "trainer.target_properties %s and are not used (loaded and collated "
                    "for nothing: list them, or leave them out of the dataset's samples)",
                    extra,
                    self.forward_properties,
                    self.target_properties,
                )

    def forward_keys(self, keys: Iterable[str]) -> list[str]:
        """The keys that `split` passes to the model, of a batch with `keys`."""
        if self.forward_properties:
            return list(self.forward_properties)
        return [key for key in keys if key not in self.target_properties]

    def split(self, batch: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(forward inputs, targets) of one batch."""
        if not self._checked:
            self._check(batch)
        try:
            targets = {key: batch[key] for key in self.target_properties}
            if self.forward_properties:
                forward = {key: batch[key] for key in self.forward_properties}
            else:
                forward = {k: v for k, v in batch.items() if k not in targets}
        except KeyError:
            self._check(batch)
            raise
        return forward, targets
