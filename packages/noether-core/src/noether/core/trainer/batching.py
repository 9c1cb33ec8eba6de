"""Batch size per device, accumulation steps, and splitting a batch into inputs and targets."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

_logger = logging.getLogger(__name__)


def batch_size_and_accumulation(
    effective_batch_size: int,
    max_batch_size: int | None,
    world_size: int,
    disable_gradient_accumulation: bool = False,
) -> tuple[int, int]:
    """(micro-batch size per device, accumulation steps) for one optimizer update.

    The effective batch is spread over `world_size` devices; a device batch larger than
    `max_batch_size` (per device) is split into the fewest equal micro-batches that fit.
    """
    if effective_batch_size % world_size != 0:
        raise ValueError(
            f"effective_batch_size ({effective_batch_size}) must be a multiple of the number "
            f"of processes ({world_size})"
        )
    per_device = effective_batch_size // world_size
    if disable_gradient_accumulation or max_batch_size is None or per_device <= max_batch_size:
        return per_device, 1
    steps = -(-per_device // max_batch_size)
    while per_device % steps != 0:
        steps += 1
    _logger.info(
        "batch of %d per device > max_batch_size %d: %d accumulation steps of %d",
        per_device,
        max_batch_size,
        steps,
        per_device // steps,
    )
    return per_device // steps, steps


class BatchSplitter:
    """Splits a batch into the model's inputs and the loss's targets.

    The first batch is checked: a missing key is an error naming it and the keys that exist;
    keys used by neither side are warned about once. Later batches are split without checks
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
                warnings.warn(
                    f"batch keys {extra} are in neither forward_properties nor "
                    "target_properties and are not used",
                    stacklevel=3,
                )

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
