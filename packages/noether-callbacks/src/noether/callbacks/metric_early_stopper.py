"""The `metric_early_stopper` kind: ends training when a logged metric stops improving.

It writes a final checkpoint (weights, optimizer and trainer state) first, so the stopped run
can be evaluated or resumed.
"""

from __future__ import annotations

from typing import Any

from noether.callbacks._metrics import is_improvement, read_metric
from noether.callbacks.checkpoint import save_final_checkpoint
from noether.config.schemas.callbacks import MetricEarlyStopperConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback
from noether.core.trainer.types import EarlyStopIteration


class MetricEarlyStopper(PeriodicCallback):
    """Stops when a logged metric did not improve by more than min_delta for `patience` checks."""

    def __init__(self, callback_config: MetricEarlyStopperConfig, context: CallbackContext) -> None:
        super().__init__(callback_config, context)
        self.stopper_config = callback_config
        self.best_value: float | None = None
        self.checks_without_improvement = 0

    def before_training(self) -> None:
        """A run resumed from a checkpoint written when this stopper ended it (its final
        checkpoint, or a SIGTERM at that update) stays stopped: it trains no further update.
        A raised `patience` continues it."""
        if self.checks_without_improvement < self.stopper_config.patience:
            return
        cfg = self.stopper_config
        self.logger.info(
            "%s for %d checks before %s; the run stays stopped (raise patience to continue it)",
            self._no_improvement(),
            self.checks_without_improvement,
            self.update_counter.tag,
        )
        raise EarlyStopIteration(f"metric_early_stopper: {cfg.metric_key} stopped improving")

    def _no_improvement(self) -> str:
        """What the checks without improvement saw; a metric that was NaN at every check has
        no best value (NaN never improves)."""
        key = self.stopper_config.metric_key
        if self.best_value is None:
            return f"{key} had no comparable value (NaN)"
        return f"{key} did not improve on {self.best_value:.6g}"

    def periodic_callback(self) -> None:
        """Reads the metric, updates the patience counter and stops when it runs out."""
        cfg = self.stopper_config
        value = read_metric(
            self.log_writer, cfg.metric_key, cfg.kind, self.config_key_path("metric_key")
        )
        if is_improvement(value, self.best_value, cfg.mode, cfg.min_delta):
            self.best_value = value
            self.checks_without_improvement = 0
            return
        self.checks_without_improvement += 1
        if self.checks_without_improvement < cfg.patience:
            return
        tag = self.update_counter.tag
        self.logger.info(
            "%s for %d checks; stopping at %s", self._no_improvement(), cfg.patience, tag
        )
        if cfg.save_checkpoint:
            save_final_checkpoint(self.context)
        raise EarlyStopIteration(f"metric_early_stopper: {cfg.metric_key} stopped improving")

    def state_dict(self) -> dict[str, Any]:
        """Best value and the patience counter."""
        return {
            "best_value": self.best_value,
            "checks_without_improvement": self.checks_without_improvement,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the patience state of an interrupted run."""
        self.best_value = state_dict["best_value"]
        self.checks_without_improvement = int(state_dict["checks_without_improvement"])
