"""Where training stands (epoch, update, sample) and when periodic things are due."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


class UpdateCounter:
    """Counts epochs, optimizer updates and samples, and knows where training ends.

    Exactly one of max_epochs / max_updates / max_samples is expected; the end is expressed in
    updates (`total_updates`) so that every stop criterion ends at a whole update.
    """

    def __init__(
        self,
        updates_per_epoch: int,
        effective_batch_size: int,
        max_epochs: int | None = None,
        max_updates: int | None = None,
        max_samples: int | None = None,
        start_epoch: int = 0,
    ) -> None:
        if updates_per_epoch < 1:
            raise ValueError(f"updates_per_epoch must be >= 1 (got {updates_per_epoch})")
        given = [v for v in (max_epochs, max_updates, max_samples) if v is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of max_epochs, max_updates, max_samples")
        self.updates_per_epoch = updates_per_epoch
        self.effective_batch_size = effective_batch_size
        self.max_epochs = max_epochs
        self.max_updates = max_updates
        self.max_samples = max_samples
        if max_epochs is not None:
            self.total_updates = max_epochs * updates_per_epoch
        elif max_updates is not None:
            self.total_updates = max_updates
        else:
            assert max_samples is not None
            self.total_updates = math.ceil(max_samples / effective_batch_size)
        self.epoch = start_epoch
        self.update = start_epoch * updates_per_epoch
        self.sample = self.update * effective_batch_size

    @property
    def is_finished(self) -> bool:
        """Whether no update is left."""
        return self.update >= self.total_updates

    @property
    def total_epochs(self) -> int:
        """Epochs touched until the end (the last one may be partial)."""
        return math.ceil(self.total_updates / self.updates_per_epoch)

    def add_update(self) -> None:
        """One optimizer update (with all its accumulation steps) is done."""
        self.update += 1
        self.sample += self.effective_batch_size

    def add_epoch(self) -> None:
        """One epoch is done."""
        self.epoch += 1

    @property
    def tag(self) -> str:
        """Checkpoint tag of the current position."""
        return position_tag(self.epoch, self.update, self.sample)

    def state_dict(self) -> dict[str, Any]:
        """Position to resume from."""
        return {"epoch": self.epoch, "update": self.update, "sample": self.sample}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores the position written by `state_dict`."""
        self.epoch = int(state["epoch"])
        self.update = int(state["update"])
        self.sample = int(state["sample"])


def position_tag(epoch: int, update: int, sample: int) -> str:
    """The checkpoint tag of a position in training: `E2_U24_S192`."""
    return f"E{epoch}_U{update}_S{sample}"


_POSITION_TAG = re.compile(r"E\d+_U(?P<update>\d+)_S\d+")


def tag_update(tag: str) -> int | None:
    """The update of a `position_tag`, or None for another name (`latest`, `best_...`)."""
    match = _POSITION_TAG.fullmatch(tag)
    return int(match.group("update")) if match else None


_POSITION_AT_END = re.compile(rf"(?:^|_)(?:{_POSITION_TAG.pattern})$")


def named_update(tag: str) -> int | None:
    """The update a checkpoint folder's name ends in: a `position_tag`, or a signal's
    (`sigterm_E9_U77_S2464`); None for another name."""
    match = _POSITION_AT_END.search(tag)
    return int(match.group("update")) if match else None


@dataclass(frozen=True)
class Frequency:
    """Every n epochs, updates or samples; one pure rule shared by callbacks and the sampler.

    The interleaving sampler simulates the counters ahead of the loop and must decide exactly
    as the callbacks do, so both call these methods.
    """

    every_n_epochs: int | None = None
    every_n_updates: int | None = None
    every_n_samples: int | None = None

    def __post_init__(self) -> None:
        for name in ("every_n_epochs", "every_n_updates", "every_n_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (got {value})")

    def due_after_update(self, update: int, sample: int, effective_batch_size: int) -> bool:
        """Due after the update that brought the counters to (update, sample)."""
        if self.every_n_updates is not None and update % self.every_n_updates == 0:
            return True
        if self.every_n_samples is not None:
            n = self.every_n_samples
            return sample // n > (sample - effective_batch_size) // n
        return False

    def next_update_due(self, update: int, sample: int, effective_batch_size: int) -> int | None:
        """The first update after `update` whose `due_after_update` is true, or None if none is.

        Lets the loop skip a callback with one integer compare until it may be due; samples
        are assumed to grow by `effective_batch_size` per update (as `UpdateCounter` counts).
        """
        due: int | None = None
        if self.every_n_updates is not None:
            n = self.every_n_updates
            due = (update // n + 1) * n
        if self.every_n_samples is not None and effective_batch_size > 0:
            n = self.every_n_samples
            # the first update whose sample count reaches the next multiple of n
            by_samples = update - ((sample - (sample // n + 1) * n) // effective_batch_size)
            if due is None or by_samples < due:
                due = by_samples
        return due

    def due_after_epoch(self, epoch: int) -> bool:
        """Due after epoch number `epoch` (counted from 1) ended."""
        return self.every_n_epochs is not None and epoch % self.every_n_epochs == 0


@dataclass(frozen=True)
class TrainingEnd:
    """The stop criterion as configured (one of the three is set)."""

    epoch: int | None = None
    update: int | None = None
    sample: int | None = None


def updates_per_epoch(train_length: int, effective_batch_size: int, trains: bool) -> int:
    """Whole updates in one pass over `train` (the rest of the epoch is dropped); 1 when
    nothing is trained (evaluation only).

    Raises:
        ValueError: training on fewer samples than one update takes.
    """
    length = train_length
    if length < effective_batch_size:
        if trains:
            raise ValueError(
                f"the train dataset has {length} samples, fewer than effective_batch_size "
                f"({effective_batch_size})"
            )
        return 1
    return length // effective_batch_size
