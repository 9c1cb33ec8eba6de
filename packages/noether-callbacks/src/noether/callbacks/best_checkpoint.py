"""The `best_checkpoint` kind: keeps the weights with the best value of a logged metric."""

from __future__ import annotations

from typing import Any

from torch import nn

from noether.callbacks._metrics import is_improvement, read_metric, safe_tag, within_tolerance
from noether.callbacks.ema import ema_factor_in_key, ema_filename, ema_model_name
from noether.config.schemas.callbacks import BestCheckpointCallbackConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback


class BestCheckpointCallback(PeriodicCallback):
    """Writes `checkpoint_dir/best_<metric>/` whenever the metric reaches a new best value.

    A metric of EMA weights (`loss/val/ema<f>/...`, logged by `offline_loss` with
    `ema_factor`) is reached by the EMA weights, so they are written too, as
    `model_ema=<f>.pt` next to `model.pt` (the trained weights of the same update).

    For each tolerance t, `best_<metric>_tol<t>/` holds an earlier new best while the best value
    stays within t% of it; it is replaced by the current (best) weights only when the best
    moved more than t% away from it.
    """

    def __init__(
        self, callback_config: BestCheckpointCallbackConfig, context: CallbackContext
    ) -> None:
        super().__init__(callback_config, context)
        self.best_config = callback_config
        self.best_value: float | None = None
        self.best_update: int | None = None
        # tolerance -> (value, update) of the checkpoint that its folder holds
        self.tolerance_values: dict[float, tuple[float, int]] = {}

    @property
    def tag(self) -> str:
        """Folder name of the best checkpoint."""
        return f"best_{safe_tag(self.best_config.metric_key)}"

    def tolerance_tag(self, tolerance: float) -> str:
        """Folder name of the checkpoint kept for one tolerance."""
        return f"{self.tag}_tol{tolerance:g}"

    def periodic_callback(self) -> None:
        """Compares the metric's latest value with the best and saves what changed."""
        cfg = self.best_config
        value = read_metric(
            self.log_writer, cfg.metric_key, cfg.kind, self.config_key_path("metric_key")
        )
        if not is_improvement(value, self.best_value, cfg.mode):
            return
        update = self.update_counter.update
        self.best_value, self.best_update = value, update
        self._save(self.tag)
        for tolerance in cfg.tolerances:
            kept = self.tolerance_values.get(tolerance)
            if kept is None or not within_tolerance(kept[0], value, cfg.mode, tolerance):
                self.tolerance_values[tolerance] = (value, update)
                self._save(self.tolerance_tag(tolerance))

    def _save(self, tag: str) -> None:
        self.checkpoint_writer.save(
            self.model,
            self.trainer,
            tag,
            save_weights=True,
            save_optim=self.best_config.save_optim,
            save_trainer=False,
        )
        scored = self._scored_ema()
        if scored is not None:  # the weights that reached the best value are the EMA's
            factor, ema_model = scored
            self.checkpoint_writer.save_object(ema_model.state_dict(), tag, ema_filename(factor))

    def _scored_ema(self) -> tuple[float, nn.Module] | None:
        """The EMA whose weights the metric measures (`loss/val/ema0.999/total`), if an ema
        callback of the run averages with that factor."""
        factor = ema_factor_in_key(self.best_config.metric_key)
        if factor is None or ema_model_name(factor) not in self.context.models:
            return None
        return factor, self.context.model_named(ema_model_name(factor))

    def state_dict(self) -> dict[str, Any]:
        """Best value so far and what each tolerance folder holds."""
        return {
            "best_value": self.best_value,
            "best_update": self.best_update,
            "tolerance_values": {t: list(v) for t, v in self.tolerance_values.items()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the comparison state of an interrupted run."""
        self.best_value = state_dict["best_value"]
        self.best_update = state_dict["best_update"]
        self.tolerance_values = {
            float(t): (float(v[0]), int(v[1])) for t, v in state_dict["tolerance_values"].items()
        }
