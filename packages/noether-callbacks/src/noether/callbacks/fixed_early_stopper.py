"""The `fixed_early_stopper` kind: ends training at a fixed epoch, update or sample count.

It writes a final checkpoint (weights, optimizer and trainer state) first, so the stopped run
can be evaluated or resumed.
"""

from __future__ import annotations

from noether.callbacks.checkpoint import save_final_checkpoint
from noether.config.schemas.callbacks import FixedEarlyStopperConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback
from noether.core.trainer.types import EarlyStopIteration


class FixedEarlyStopper(PeriodicCallback):
    """Stops after a given epoch, update or sample count (checked after every update/epoch).

    It has no frequency: `should_run` is true exactly when the criterion is reached.
    """

    def __init__(self, callback_config: FixedEarlyStopperConfig, context: CallbackContext) -> None:
        super().__init__(callback_config, context)
        self.stopper_config = callback_config
        self._end_of_epoch = False

    def _reached(self, end_of_epoch: bool) -> bool:
        cfg = self.stopper_config
        counter = self.update_counter
        if cfg.stop_at_epoch is not None:
            return end_of_epoch and counter.epoch >= cfg.stop_at_epoch
        if end_of_epoch:
            return False  # update and sample criteria were checked right after the update
        if cfg.stop_at_update is not None:
            return counter.update >= cfg.stop_at_update
        assert cfg.stop_at_sample is not None
        return counter.sample >= cfg.stop_at_sample

    def should_run(self, end_of_epoch: bool = False) -> bool:
        """Due once the criterion is reached: update and sample criteria after an update, the
        epoch criterion after an epoch."""
        self._end_of_epoch = end_of_epoch
        return self._reached(end_of_epoch)

    def __repr__(self) -> str:
        cfg = self.stopper_config
        for name in ("stop_at_epoch", "stop_at_update", "stop_at_sample"):
            if getattr(cfg, name) is not None:
                return f"{type(self).__name__}({name}={getattr(cfg, name)})"
        return type(self).__name__

    def before_training(self) -> None:
        """A run resumed at (or past) its criterion, e.g. from the final checkpoint that this
        stopper wrote when it ended the run, trains no further update."""
        if not (self._reached(end_of_epoch=True) or self._reached(end_of_epoch=False)):
            return
        counter = self.update_counter
        self.logger.info("%s: the run already stopped at %s", self, counter.tag)
        raise EarlyStopIteration(f"fixed_early_stopper reached {counter.tag}")

    def periodic_callback(self) -> None:
        """Writes the final checkpoint and stops (a forced run before the criterion is a no-op,
        e.g. in an evaluation-only run)."""
        if not self._reached(self._end_of_epoch):
            return
        counter = self.update_counter
        self.logger.info(
            "stopping at epoch %d, update %d, sample %d",
            counter.epoch,
            counter.update,
            counter.sample,
        )
        if self.stopper_config.save_checkpoint:
            save_final_checkpoint(self.context)
        raise EarlyStopIteration(f"fixed_early_stopper reached {counter.tag}")
