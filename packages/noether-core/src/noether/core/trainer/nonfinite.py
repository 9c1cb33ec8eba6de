"""The two non-finite loss policies: stop the run (the default) or skip such micro-batches;
both decide on the device and read on the host only when values are read anyway."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from noether.core.counters import Frequency, UpdateCounter
from noether.core.distributed import (
    SAME_ON_EVERY_RANK,
    all_reduce_min,
    all_reduce_sum,
    get_world_size,
)
from noether.core.host import host_values
from noether.core.trainer.types import NonFiniteLossError

_FOLD_EVERY = 64


def _updates(first: int, last: int) -> str:
    """`in update 3` or `between updates 1 and 5`: where a read found what it reports."""
    return f"in update {last}" if first >= last else f"between updates {first} and {last}"


class NonFiniteLossGuard:
    """Keeps every backpropagated loss on the device (summed per 64) and reads their sum only
    when the host reads values anyway: at the track interval, before a checkpoint is written,
    and at the end.

    NaN and infinity survive any sum, so one read tells whether a non-finite loss went into
    the weights since the last read. The run then stops before the next checkpoint is
    written, so the checkpoints on disk hold weights from before the loss went bad.

    Args:
        frequency: when to read (the track interval of the default callbacks).
        device: where the losses live.
        world_size: processes that train together (their sums are all-reduced at a read).
    """

    def __init__(self, frequency: Frequency, device: torch.device, world_size: int) -> None:
        self.frequency = frequency
        self.world_size = world_size
        # float64 sums no finite loss into infinity; mps has no float64
        self._dtype = torch.float32 if device.type == "mps" else torch.float64
        self._device = device
        self._pending: list[Tensor] = []
        self._sums: list[Tensor] = []
        self._checked_update = 0

    def start(self, update: int) -> None:
        """Training starts after `update` (a resumed run, start_at_epoch): the first read
        names the updates from the next one on, not from update 1."""
        self._checked_update = update

    def add(self, loss: Tensor) -> None:
        """Called for every backpropagated (scalar, detached) loss: kept, and added on the
        device in groups (one op per 64 losses instead of one per loss:
        `tools/bench/loop_overhead.py`)."""
        self._pending.append(loss)
        if len(self._pending) >= _FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        if self._pending:
            self._sums.append(torch.stack(self._pending).sum(dtype=self._dtype))
            self._pending = []

    def _read_total(self) -> float:
        """The sum of the losses since the last read, over all ranks (one host read)."""
        if self.world_size == 1:
            pending, self._pending = self._pending, []
            sums, self._sums = self._sums, []
            return sum(host_values(pending)) + sum(host_values(sums))
        self._fold()
        sums, self._sums = self._sums, []
        if not sums:
            sums.append(torch.zeros((), dtype=self._dtype, device=self._device))
        summed = sums[0] if len(sums) == 1 else torch.stack(sums).sum()
        return float(all_reduce_sum(summed).item())

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
        total = self._read_total()
        first, self._checked_update = self._checked_update + 1, counter.update
        if math.isfinite(total):
            return
        names = sorted(
            key
            for key, value in logged.items()
            if key.startswith("loss/") and not math.isfinite(value)
        )
        raise NonFiniteLossError(
            f"the loss became NaN or infinite {_updates(first, counter.update)} "
            f"({', '.join(names) if names else 'total loss'}), so training stopped; checkpoints "
            "written before hold finite weights. Lower the learning rate, check the data, or "
            "set trainer.skip_nan_loss (skip such batches) or trainer.stop_on_nan_loss: false"
        )


class FiniteWeightsCheck:
    """Before a checkpoint is written: the weights are finite on every rank (one host read
    per checkpoint, which copies the weights to the host anyway).

    A loss can be finite while its gradient is not (a square root or a division at 0), so
    the loss checks see such a step only at the next update's loss; without this check the
    checkpoint of the update in between would hold NaN weights.

    Args:
        model: the trained model (its trainable parameters are checked).
        world_size: processes that train together (they agree by an all-reduce MIN).
    """

    def __init__(self, model: nn.Module, world_size: int) -> None:
        self.model = model
        self.world_size = world_size
        self._checked_update = 0

    def start(self, update: int) -> None:
        """Training starts after `update`: the first check names the updates after it."""
        self._checked_update = update

    def check(self, update: int) -> None:
        """Raises when a weight is NaN or infinite on any rank after `update`.

        Raises:
            NonFiniteLossError: naming the updates since the last check.
        """
        # trainable ones: a frozen parameter may hold -inf by design (a mask)
        params = [param.detach() for param in self.model.parameters() if param.requires_grad]
        first, self._checked_update = self._checked_update + 1, update
        if not params:
            return
        finite = torch.stack([torch.isfinite(param).all() for param in params]).all()
        if self.world_size > 1:
            agreed = finite.to(torch.int32).reshape(1)
            all_reduce_min(agreed)
            finite = agreed[0].bool()
        if bool(finite.item()):
            return
        raise NonFiniteLossError(
            f"the weights became NaN or infinite {_updates(first, update)} though the loss "
            "was finite (a gradient that is not: e.g. a square root or a division at 0 in "
            "the model or loss), so training stopped before writing a checkpoint; "
            "checkpoints written before hold finite weights. Make that gradient finite (e.g. "
            "sqrt(x + eps)), or set trainer.stop_on_nan_loss: false to train on"
        )


class SkipNonFinite:
    """The skip_nan_loss policy, decided on the device: a micro-batch whose loss is NaN or
    infinite on any rank contributes nothing on all ranks, at most `max_count` in a row.

    Nothing is read on the host per micro-batch. Each loss gives a finite flag (agreed by an
    all-reduce MIN, enqueued like any collective). While its backward runs, a hook on every
    parameter replaces the incoming gradient by zero where the flag is false (`torch.where`:
    scaling by zero would keep NaN, as NaN * 0 is NaN), so the gradients accumulated from the
    other micro-batches stay as they were. When every micro-batch of an update was skipped,
    the optimizer step is undone on the device: the weights and the optimizer state on the
    training device are restored from a copy taken before the step (state that the optimizer
    keeps on the host, such as Adam's step count on a GPU run, still advances).

    The skips in a row are counted on the device and read by `check` at the track interval,
    before checkpoints and at the end, which raises when a run of skips went over
    `max_count` (at the first read after it; the count named is the longest run since the
    previous read).

    Args:
        max_count: skips in a row before the run stops (skip_nan_loss_max_count).
        logger: where skips are reported (at the read after them).
        device: where the counts live (the training device).
    """

    def __init__(self, max_count: int, logger: logging.Logger, device: torch.device) -> None:
        self.max_count = max_count
        self.logger = logger
        self.device = device
        self.frequency = Frequency(every_n_updates=1)
        """When the loop reads the counts (the trainer sets the track interval)."""
        # skips in a row now, the longest run since the last read, skips since the last read
        self._counts = torch.zeros(3, dtype=torch.int64, device=device)
        self._flag: Tensor | None = None
        self._update_ok: Tensor | None = None
        self._hooks: list[RemovableHandle] = []
        self._hooked: nn.Module | None = None
        self._checked_update = 0
        self._flagged = 0
        """Micro-batches flagged since training started (in this process)."""

    def start(self, update: int) -> None:
        """Training starts after `update` (a resumed run, start_at_epoch): the first read
        names the updates from the next one on, not from update 1."""
        self._checked_update = update

    # ------------------------------------------------------------------ state
    @property
    def count(self) -> int:
        """Skips in a row so far (kept in the trainer state; a host read)."""
        return int(self._counts[0].item())

    @count.setter
    def count(self, value: int) -> None:
        self._counts.copy_(torch.tensor([value, value, 0], dtype=torch.int64))

    # ------------------------------------------------------------------ per micro-batch
    def flag(self, loss: Tensor) -> Tensor:
        """Whether this micro-batch's (detached) loss is finite on every rank (a device
        bool); counts it. Called once per micro-batch, before its backward."""
        finite = torch.isfinite(loss).all().to(self.device)
        if get_world_size() > 1:
            agreed = finite.to(torch.int32).reshape(1)
            all_reduce_min(agreed)
            finite = agreed[0].bool()
        self._flagged += 1
        bad = (~finite).to(torch.int64)
        counts = self._counts
        run = counts[0].add_(1).mul_(bad)
        counts[1].copy_(torch.maximum(counts[1], run))
        counts[2].add_(bad)
        ok = self._update_ok
        self._update_ok = finite if ok is None else ok | finite
        return finite

    @staticmethod
    def hide_skipped(losses: Mapping[str, Tensor], finite: Tensor) -> dict[str, Tensor]:
        """The micro-batch's losses to log, NaN when it was skipped: a rank whose own loss
        was finite must not count a micro-batch that another rank's NaN kept out of the
        gradient (the online loss leaves NaN steps out of its mean)."""
        return {name: torch.where(finite, loss.detach(), math.nan) for name, loss in losses.items()}

    def attach(self, model: nn.Module) -> None:
        """Puts the gradient mask on `model`'s trainable parameters (once per model)."""
        if self._hooked is model:
            return
        self.detach()
        for param in model.parameters():
            if param.requires_grad:
                self._hooks.append(param.register_hook(self._mask_gradient))  # type: ignore[no-untyped-call]
        self._hooked = model

    def detach(self) -> None:
        """Removes the gradient mask (when training ends)."""
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        self._hooked = None

    @contextmanager
    def masking(self, finite: Tensor) -> Iterator[None]:
        """Within the block (the micro-batch's backward), gradients count only if `finite`."""
        self._flag = finite
        try:
            yield
        finally:
            self._flag = None

    def _mask_gradient(self, grad: Tensor) -> Tensor:
        flag = self._flag
        if flag is None:  # a backward outside the train step's: untouched
            return grad
        return torch.where(flag, grad, 0.0)

    # ------------------------------------------------------------------ per update
    def optimizer_step(self, model: nn.Module, step: Callable[[], object]) -> None:
        """Runs `step` (the optimizer step), undone on the device when every micro-batch of
        the update was skipped."""
        ok = self._update_ok
        optimizer = getattr(model, "optimizer", None)
        if ok is None or optimizer is None:
            step()
            return
        tensors: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
        for state in optimizer.state.values():
            tensors += [v for v in state.values() if isinstance(v, Tensor)]
        tensors = [t for t in tensors if t.device == ok.device]
        with torch.no_grad():
            saved = [t.detach().clone() for t in tensors]
            step()
            for tensor, before in zip(tensors, saved, strict=True):
                tensor.copy_(torch.where(ok, tensor, before))

    def end_update(self) -> None:
        """After the update's optimizer step: the next micro-batch starts a new update."""
        self._update_ok = None

    # ------------------------------------------------------------------ host reads
    def is_due_after_this_update(self, counter: UpdateCounter) -> bool:
        """Whether the track interval asks for a read after the update that is ending (the
        counter does not count it yet)."""
        update = counter.update + 1
        ebs = counter.effective_batch_size
        if self.frequency.due_after_update(update, counter.sample + ebs, ebs):
            return True
        end_of_epoch = update % counter.updates_per_epoch == 0
        return end_of_epoch and self.frequency.due_after_epoch(counter.epoch + 1)

    def check(self, update: int, at_end: bool = False) -> None:
        """Reads the counts (one host read; all ranks hold the same); reports the skips
        since the last read and raises when a run of them went over `max_count`, or, when
        training ends, when it skipped every micro-batch (a short run, such as a smoke test
        in CI, would otherwise finish with the weights it started from).

        Args:
            update: the last update that ran.
            at_end: training ends after this read.

        Raises:
            NonFiniteLossError: more than `max_count` non-finite losses in a row, or only
                non-finite losses in a run that ends.
        """
        run, longest, skipped = (int(v) for v in self._counts.tolist())
        first, self._checked_update = self._checked_update + 1, update
        self._counts[1].fill_(run)
        self._counts[2].zero_()
        if at_end and self._flagged and run >= self._flagged:
            raise NonFiniteLossError(
                f"the loss was NaN or infinite in each of the {self._flagged} "
                f"micro-batches this run trained, so skip_nan_loss skipped them all and no "
                "update changed the weights. Check the data, learning rate and precision"
            )
        if longest > self.max_count:
            raise NonFiniteLossError(
                f"the loss was NaN or infinite {longest} times in a row, more than "
                f"skip_nan_loss_max_count={self.max_count} {_updates(first, update)}, so "
                "training stopped. Check the data, learning rate and precision, or raise "
                "trainer.skip_nan_loss_max_count"
            )
        if skipped:
            self.logger.warning(
                "non-finite loss: skipped %d %s %s (%d in a row now, at most %d)",
                skipped,
                "micro-batch" if skipped == 1 else "micro-batches",
                _updates(first, update),
                run,
                self.max_count,
                extra=SAME_ON_EVERY_RANK,  # the ranks agreed on each skip
            )
