"""The `best_metric` kind: the best value of a metric so far, and when it happened."""

from __future__ import annotations

from typing import Any

from noether.callbacks._metrics import is_improvement, read_metric
from noether.config.schemas.callbacks import BestMetricCallbackConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback


class BestMetricCallback(PeriodicCallback):
    """Logs `best/<metric_key>` and `best_update/<metric_key>` when due, and as summary."""

    def __init__(self, callback_config: BestMetricCallbackConfig, context: CallbackContext) -> None:
        super().__init__(callback_config, context)
        self.best_config = callback_config
        self.best_value: float | None = None
        self.best_update: int | None = None

    @property
    def value_key(self) -> str:
        """Key under which the best value is logged."""
        return f"best/{self.best_config.metric_key}"

    @property
    def update_key(self) -> str:
        """Key under which the update of the best value is logged."""
        return f"best_update/{self.best_config.metric_key}"

    def periodic_callback(self) -> None:
        """Compares the latest value with the best and logs the best."""
        cfg = self.best_config
        value = read_metric(
            self.log_writer, cfg.metric_key, cfg.kind, self.config_key_path("metric_key")
        )
        if is_improvement(value, self.best_value, cfg.mode):
            self.best_value = value
            self.best_update = self.update_counter.update
        if self.best_value is not None and self.best_update is not None:
            self.log_writer.add_scalar(self.value_key, self.best_value)
            self.log_writer.add_scalar(self.update_key, float(self.best_update))

    def after_training(self) -> None:
        """Reports the best value and its update as summary values."""
        if self.best_value is not None and self.best_update is not None:
            self.log_writer.add_summary(self.value_key, self.best_value)
            self.log_writer.add_summary(self.update_key, float(self.best_update))

    def state_dict(self) -> dict[str, Any]:
        """Best value and its update."""
        return {"best_value": self.best_value, "best_update": self.best_update}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the best value of an interrupted run."""
        self.best_value = state_dict["best_value"]
        self.best_update = state_dict["best_update"]
