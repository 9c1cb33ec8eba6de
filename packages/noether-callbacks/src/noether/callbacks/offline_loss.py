"""The `offline_loss` kind: the trainer's loss on a named dataset, exact over ranks."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from noether.callbacks.ema import ema_metric_segment, ema_model_name
from noether.config.schemas.callbacks import OfflineLossCallbackConfig
from noether.core.callbacks.base import CallbackContext, PeriodicDataIteratorCallback
from noether.core.data.sharding import real_shard_size
from noether.core.distributed import all_reduce_sum, get_rank, get_world_size


def batch_length(batch: dict[str, Any]) -> int:
    """Number of samples in a batch (dim 0 of its tensors)."""
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            return int(value.shape[0])
    raise ValueError(f"batch has no tensor with a sample dimension (keys: {', '.join(batch)})")


def slice_batch(batch: dict[str, Any], count: int) -> dict[str, Any]:
    """The first `count` samples of a batch (drops the padding at the end of a shard)."""
    return {
        key: value[:count] if isinstance(value, torch.Tensor) and value.ndim > 0 else value
        for key, value in batch.items()
    }


class OfflineLossCallback(PeriodicDataIteratorCallback):
    """Evaluates `trainer.train_step` on `dataset_key` and logs each loss field and the total.

    Each batch's (mean) losses are weighted by its number of real samples; sums and counts are
    summed over ranks, so the logged value is the mean over the dataset's samples, whatever
    the batch size, the uneven last batch or the padding of the rank shards.
    """

    def __init__(
        self, callback_config: OfflineLossCallbackConfig, context: CallbackContext
    ) -> None:
        super().__init__(callback_config, context)
        self.loss_config = callback_config
        self.ema_factor = callback_config.ema_factor
        self._position = 0  # samples of this rank's shard seen in the current run
        self._warned: set[str] = set()

    @property
    def key_prefix(self) -> str:
        """Prefix of the logged keys, `loss/<dataset_key>` (plus `/ema<f>` for EMA weights)."""
        prefix = f"loss/{self.dataset_key}"
        if self.ema_factor is not None:
            prefix += f"/{ema_metric_segment(self.ema_factor)}"
        return prefix

    def before_training(self) -> None:
        """Fails early when the EMA to evaluate does not exist."""
        if self.ema_factor is not None:
            self._ema_model(self.ema_factor)

    def _ema_model(self, factor: float) -> nn.Module:
        try:
            return self.context.model_named(ema_model_name(factor))
        except KeyError:
            raise ValueError(
                f"offline_loss on {self.dataset_key!r} evaluates ema_factor {factor:g}, but no "
                f"ema callback has that target factor: add {{kind: ema, target_factors: "
                f"[{factor:g}], ...}} before it in trainer.callbacks"
            ) from None

    def periodic_callback(self) -> None:
        """Evaluates all batches of this rank's shard, then reduces and logs."""
        self._position = 0
        super().periodic_callback()

    def _real_samples(self, count: int) -> int:
        """How many of the next `count` shard positions are real samples, not padding."""
        real = real_shard_size(self.dataset_length, get_rank(), get_world_size())
        start = self._position
        self._position += count
        return max(0, min(start + count, real) - start)  # the padding ends the shard

    def process_data(self, batch: dict[str, torch.Tensor], model: nn.Module) -> Any:
        """Per loss, its sum over the batch's real samples; and their number."""
        count = self._real_samples(batch_length(batch))
        eval_model = model if self.ema_factor is None else self._ema_model(self.ema_factor)
        # A batch of padding only (tiny dataset, many ranks) is evaluated with weight 0, so
        # that every rank contributes the same loss names to the reduction.
        trainer = self.trainer
        if trainer is None:
            raise RuntimeError("offline_loss evaluates the trainer's train_step: it needs one")
        result = trainer.train_step(slice_batch(batch, count) if count else batch, eval_model)
        logged = result.losses_to_log or {}  # None: TrainerResult(loss), only the total
        losses = {name: value.detach().float() for name, value in logged.items()}
        losses["total"] = result.total_loss.detach().float()
        return {name: value * count for name, value in losses.items()}, count

    def process_results(self, results: list[Any]) -> None:
        """Sums over batches and ranks, divides by the number of samples, logs."""
        if not results:
            raise RuntimeError(f"offline_loss: dataset {self.dataset_key!r} yielded no batch")
        names = list(results[0][0])
        sums = torch.stack([sum(r[0][n] for r in results) for n in names]).double()
        count = float(sum(r[1] for r in results))
        totals = all_reduce_sum(torch.cat([sums, sums.new_tensor([count])]))
        means = totals[:-1] / totals[-1]
        for name, value in zip(names, means, strict=True):
            self.log_writer.add_scalar(f"{self.key_prefix}/{name}", value)
        self._warn_non_finite(names, means)

    def _warn_non_finite(self, names: list[str], means: torch.Tensor) -> None:
        """A NaN or infinite loss on evaluation data does not stop the run (training is not
        affected), so it is said here, once per run and key, or only the final line shows it."""
        for name, value in zip(names, means.tolist(), strict=True):  # one host read
            key = f"{self.key_prefix}/{name}"
            if not math.isfinite(value) and key not in self._warned:
                self._warned.add(key)
                self.logger.warning(
                    "%s is %g at update %d: a batch of dataset %r gives a non-finite loss "
                    "(its inputs or targets hold NaN or inf, or the model overflows on them)",
                    key,
                    value,
                    self.update_counter.update,
                    self.dataset_key,
                )
