"""The two non-finite loss policies: stop the run (the default) or skip such micro-batches."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import torch
from torch import Tensor

from noether.core.counters import Frequency, UpdateCounter
from noether.core.distributed import all_reduce_min, all_reduce_sum, get_world_size
from noether.core.trainer.types import NonFiniteLossError

_FOLD_EVERY = 64


class NonFiniteLossGuard:
    """Adds every backpropagated loss into one device scalar and reads it only when the host
    reads values anyway: at the track interval, before a checkpoint is written, and at the end.

    NaN and infinity survive any sum, so one read tells whether a non-finite loss went into
    the weights since the last read. The run then stops before the next checkpoint is
    written, so the checkpoints on disk hold weights from before the loss went bad.

    Args:
        frequency: when to read (the track interval of the default callbacks).
        device: where the losses live.
    """

    def __init__(self, frequency: Frequency, device: torch.device) -> None:
        self.frequency = frequency
        # float64 sums no finite loss into infinity; mps has no float64
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self._sum = torch.zeros((), dtype=dtype, device=device)
        self._pending: list[Tensor] = []
        self._checked_update = 0

    def add(self, loss: Tensor) -> None:
        """Called for every backpropagated (scalar) loss: kept, and added on the device in
        groups (one op per 64 losses instead of one per loss: `tools/bench/loop_overhead.py`)."""
        self._pending.append(loss.detach())
        if len(self._pending) >= _FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        if self._pending:
            self._sum.add_(torch.stack(self._pending).sum())
            self._pending.clear()

    def is_due(self, counter: UpdateCounter, end_of_epoch: bool) -> bool:
        """Whether the track interval asks for a read after this update."""
        due = self.frequency.due_after_update(
            counter.update, counter.sample, counter.effective_batch_size
        )
        return due or (end_of_epoch and self.frequency.due_after_epoch(counter.epoch))

    def check(self, counter: UpdateCounter, logged: Mapping[str, float]) -> None:
        """Reads the sum (one host sync; all ranks agree); raises when it is not finite.

        Args:
            counter: where training stands.
            logged: the latest logged metrics, to name the losses that went bad.
        """
        self._fold()
        total = (all_reduce_sum(self._sum) if get_world_size() > 1 else self._sum).item()
        self._sum.zero_()
        first, self._checked_update = self._checked_update + 1, counter.update
        if math.isfinite(total):
            return
        names = sorted(
            key
            for key, value in logged.items()
            if key.startswith("loss/") and not math.isfinite(value)
        )
        raise NonFiniteLossError(
            f"the loss became NaN or infinite between updates {first} and {counter.update} "
            f"({', '.join(names) if names else 'total loss'}), so training stopped; checkpoints "
            "written before hold finite weights. Lower the learning rate, check the data, or "
            "set trainer.skip_nan_loss (skip such batches) or trainer.stop_on_nan_loss: false"
        )


class SkipNonFinite:
    """The skip_nan_loss policy: a micro-batch whose loss is NaN or infinite on any rank is
    skipped on all ranks (one host sync per micro-batch), at most `max_count` in a row.

    Args:
        max_count: skips in a row before the run stops (skip_nan_loss_max_count).
        logger: where each skip is reported.
    """

    def __init__(self, max_count: int, logger: logging.Logger) -> None:
        self.max_count = max_count
        self.logger = logger
        self.count = 0
        """Skips in a row so far (kept in the trainer state)."""

    def should_skip(self, loss: Tensor) -> bool:
        """Whether all ranks skip this micro-batch.

        Raises:
            NonFiniteLossError: more than `max_count` non-finite losses in a row.
        """
        finite = torch.isfinite(loss.detach()).all().to(torch.float32).reshape(1)
        all_reduce_min(finite)
        if bool(finite.item()):
            self.count = 0
            return False
        self.count += 1
        if self.count > self.max_count:
            raise NonFiniteLossError(
                f"the loss was NaN or infinite {self.count} times in a row "
                f"(skip_nan_loss_max_count={self.max_count}); check the data, learning rate "
                "and precision"
            )
        self.logger.warning(
            "non-finite loss: skipping this micro-batch (%d in a row, at most %d)",
            self.count,
            self.max_count,
        )
        return True
