"""Schemas of the callbacks that noether-callbacks implements.

Torch-free: each schema names its runtime class in `target`, which lives in the
`noether-callbacks` distribution and is imported only when a run is built.

Ordering rule: user callbacks run in the order of `trainer.callbacks`. Callbacks that read a
metric (`best_checkpoint`, `metric_early_stopper`, `best_metric`) must come after the callback
that logs it (e.g. `offline_loss`) and run at the same frequency; `offline_loss` with
`ema_factor` must come after the `ema` callback.
"""

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from noether.config.field_rules import ExactlyOne, FieldRule
from noether.config.schemas.callback import CallbackConfig

Mode = Literal["min", "max"]


def _unique(values: list[float], name: str) -> list[float]:
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise ValueError(f"{name} has duplicates: {', '.join(f'{v:g}' for v in duplicates)}")
    return values


class CheckpointCallbackConfig(CallbackConfig):
    """Writes checkpoints every n epochs / updates / samples, optionally keeping only the last k."""

    kind: str = "checkpoint"
    """Selects this callback: `checkpoint`."""
    target: ClassVar[str] = "noether.callbacks.checkpoint:CheckpointCallback"
    logs_no_metrics: ClassVar[bool] = True
    missed_at_end: ClassVar[str | None] = (
        "the final weights, which the run's last losses describe, are not written"
    )

    save_weights: bool = True
    """Write the model weights into a folder tagged with the counters (`E1_U10_S640`)."""
    save_optim: bool = False
    """Also write the optimizer and trainer state (counters, callbacks, RNG): what resume needs
    (with the weights, whatever save_weights says)."""
    save_latest_weights: bool = False
    """Write the weights into the rolling `latest` folder, overwritten each time."""
    save_latest_optim: bool = False
    """Write weights, optimizer and trainer state into the rolling `latest` folder (resumable
    with `--checkpoint latest`)."""
    keep_last: int | None = Field(default=None, ge=1)
    """Keep only the newest k tagged checkpoints of this callback; older ones are deleted."""

    def latest_files(self) -> frozenset[str]:
        """Weights, optimizer and trainer state with `save_latest_optim`; weights alone with
        `save_latest_weights`."""
        if self.save_latest_optim:
            return frozenset({"model.pt", "optim.pt", "trainer.pt"})
        return frozenset({"model.pt"}) if self.save_latest_weights else frozenset()

    @model_validator(mode="after")
    def validate_something_saved(self) -> "CheckpointCallbackConfig":
        """A checkpoint callback that saves nothing is a mistake."""
        if not any(
            (self.save_weights, self.save_optim, self.save_latest_weights, self.save_latest_optim)
        ):
            raise ValueError(
                "set at least one of save_weights, save_optim, save_latest_weights, "
                "save_latest_optim"
            )
        if self.keep_last is not None and not (self.save_weights or self.save_optim):
            raise ValueError("keep_last needs save_weights or save_optim (tagged checkpoints)")
        return self


class BestCheckpointCallbackConfig(CallbackConfig):
    """Keeps the weights with the best value of a logged metric.

    With `tolerances`, it also keeps, per tolerance t (in percent), an earlier new best while
    the best value stays within t% of it, replaced by the current best once the best moves
    further: a model that got nearly as good with less training.
    """

    kind: str = "best_checkpoint"
    """Selects this callback: `best_checkpoint`."""
    target: ClassVar[str] = "noether.callbacks.best_checkpoint:BestCheckpointCallback"
    logs_no_metrics: ClassVar[bool] = True

    metric_key: str = Field(min_length=1)
    """Metric to compare, as logged (e.g. `loss/val/total`); list this callback after its source."""
    mode: Mode = "min"
    """`min` when smaller is better (losses), `max` when larger is better (accuracy)."""
    tolerances: list[float] = []
    """Percentages (> 0): also keep an earlier best while the best stays within t% of it."""
    save_optim: bool = False
    """Also write the optimizer state next to the best weights."""

    @field_validator("tolerances")
    @classmethod
    def validate_tolerances(cls, tolerances: list[float]) -> list[float]:
        """Tolerances are positive and distinct."""
        bad = [t for t in tolerances if not t > 0]
        if bad:
            raise ValueError(f"tolerances must be > 0 percent (got {', '.join(map(str, bad))})")
        return _unique(tolerances, "tolerances")


class EmaCallbackConfig(CallbackConfig):
    """Exponential moving averages of the model weights, updated after every optimizer update.

    `ema = f * ema + (1 - f) * weights` per target factor f. The averages are part of the
    trainer state (exact resume); every n epochs / updates / samples they are also written as
    weights files (`model_ema=<f>.pt`). `offline_loss` evaluates them through `ema_factor`.
    """

    kind: str = "ema"
    """Selects this callback: `ema`."""
    target: ClassVar[str] = "noether.callbacks.ema:EmaCallback"
    logs_no_metrics: ClassVar[bool] = True
    never_due: ClassVar[str] = (
        "writes no weights file in this run (its averages are kept, and evaluated, all the same)"
    )

    target_factors: list[float] = Field(min_length=1)
    """Decay factors f in (0, 1), e.g. [0.999, 0.9999]; one averaged copy of the model each."""
    save_weights: bool = True
    """Write the averaged weights into the tagged checkpoint folder when due."""
    save_latest_weights: bool = False
    """Write the averaged weights into the rolling `latest` folder when due."""
    keep_last: int | None = Field(default=None, ge=1)
    """Keep only the tagged folders of this callback's newest k writes; older ones are deleted
    (a folder that a checkpoint callback still keeps stays whole). Without it, every folder of
    EMA weights alone stays: a checkpoint callback's keep_last prunes only the checkpoints it
    wrote (with the EMA weights next to them)."""

    @field_validator("target_factors")
    @classmethod
    def validate_target_factors(cls, factors: list[float]) -> list[float]:
        """Factors lie strictly between 0 and 1 and are distinct."""
        bad = [f for f in factors if not 0.0 < f < 1.0]
        if bad:
            raise ValueError(f"target_factors must be in (0, 1) (got {', '.join(map(str, bad))})")
        return _unique(factors, "target_factors")

    @model_validator(mode="after")
    def validate_something_saved(self) -> "EmaCallbackConfig":
        """The frequency decides when EMA weights are written, so something must be written."""
        if not (self.save_weights or self.save_latest_weights):
            raise ValueError("set save_weights or save_latest_weights")
        if self.keep_last is not None and not self.save_weights:
            raise ValueError("keep_last needs save_weights (tagged folders)")
        return self


class FixedEarlyStopperConfig(CallbackConfig):
    """Ends training at a fixed epoch, update or sample count (before max_*), with a checkpoint."""

    kind: str = "fixed_early_stopper"
    """Selects this callback: `fixed_early_stopper`."""
    target: ClassVar[str] = "noether.callbacks.fixed_early_stopper:FixedEarlyStopper"
    periodic: ClassVar[bool] = False
    logs_no_metrics: ClassVar[bool] = True

    stop_at_epoch: int | None = Field(default=None, ge=1)
    """Stop after this epoch has ended."""
    stop_at_update: int | None = Field(default=None, ge=1)
    """Stop after this optimizer update."""
    stop_at_sample: int | None = Field(default=None, ge=1)
    """Stop after the update at which this many training samples have been seen."""
    save_checkpoint: bool = True
    """Write a final checkpoint (weights, optimizer, trainer state) before stopping."""

    @classmethod
    def field_rules(cls) -> tuple[FieldRule, ...]:
        """Exactly one stop criterion, besides the rules of callbacks."""
        return (
            *super().field_rules(),
            ExactlyOne("stop_at_epoch", "stop_at_update", "stop_at_sample"),
        )

    def first_due(self) -> tuple[str, int] | None:
        """The stop criterion that is given (the point at which it stops the run)."""
        for name in ("stop_at_epoch", "stop_at_update", "stop_at_sample"):
            value = getattr(self, name)
            if value is not None:
                return name, int(value)
        return None


class MetricEarlyStopperConfig(CallbackConfig):
    """Ends training when a logged metric stopped improving for `patience` checks."""

    kind: str = "metric_early_stopper"
    """Selects this callback: `metric_early_stopper`."""
    target: ClassVar[str] = "noether.callbacks.metric_early_stopper:MetricEarlyStopper"
    logs_no_metrics: ClassVar[bool] = True

    metric_key: str = Field(min_length=1)
    """Metric to watch, as logged (e.g. `loss/val/total`); list this callback after its source."""
    mode: Mode = "min"
    """`min` when smaller is better, `max` when larger is better."""
    patience: int = Field(default=5, ge=1)
    """Stop after this many checks in a row without improvement."""
    min_delta: float = Field(default=0.0, ge=0.0)
    """An improvement must beat the best value by more than this (absolute)."""
    save_checkpoint: bool = True
    """Write a final checkpoint (weights, optimizer, trainer state) before stopping."""


class BestMetricCallbackConfig(CallbackConfig):
    """Tracks the best value of a metric and the update at which it happened, and logs both.

    Logs `best/<metric_key>` and `best_update/<metric_key>` when due, and both as summary
    values at the end of training.
    """

    kind: str = "best_metric"
    """Selects this callback: `best_metric`."""
    target: ClassVar[str] = "noether.callbacks.best_metric:BestMetricCallback"

    metric_key: str = Field(min_length=1)
    """Metric to track, as logged (e.g. `loss/val/total`); list this callback after its source."""
    mode: Mode = "min"
    """`min` when smaller is better, `max` when larger is better."""

    def logs_metric(self, key: str) -> bool:
        """`best/<metric_key>` and `best_update/<metric_key>`."""
        return key in self.logged_metrics(None)

    def logged_metrics(self, loss_names: list[str] | None) -> list[str]:
        """`best/<metric_key>` and `best_update/<metric_key>`."""
        return [f"best/{self.metric_key}", f"best_update/{self.metric_key}"]


class OfflineLossCallbackConfig(CallbackConfig):
    """Evaluates the trainer's loss on a named dataset and logs every field and the total.

    Logs `loss/<dataset_key>/<field>` and `loss/<dataset_key>/total` (with `ema_factor`:
    `loss/<dataset_key>/ema<f>/...`): the mean over samples, exact over ranks and uneven
    last batches.
    """

    kind: str = "offline_loss"
    """Selects this callback: `offline_loss`."""
    target: ClassVar[str] = "noether.callbacks.offline_loss:OfflineLossCallback"

    dataset_key: str = Field(min_length=1)
    """Dataset to evaluate (a key of `datasets`, e.g. `val`)."""
    ema_factor: float | None = Field(default=None, gt=0.0, lt=1.0)
    """Evaluate the EMA weights of this factor (needs an earlier `ema` callback that has it)."""

    def key_prefix(self) -> str:
        """`loss/<dataset_key>/` (plus `ema<f>/` with ema_factor)."""
        prefix = f"loss/{self.dataset_key}/"
        if self.ema_factor is not None:
            prefix += f"ema{self.ema_factor:g}/"
        return prefix

    def logs_metric(self, key: str) -> bool:
        """`loss/<dataset_key>/<field>` (`.../ema<f>/<field>` with ema_factor)."""
        prefix = self.key_prefix()
        return key.startswith(prefix) and "/" not in key[len(prefix) :]

    def logged_metrics(self, loss_names: list[str] | None) -> list[str] | None:
        """The prefix with each of the trainer's loss names (which the run knows otherwise)."""
        if loss_names is None:
            return None
        return [self.key_prefix() + name for name in loss_names]


class TrackOutputsCallbackConfig(CallbackConfig):
    """Logs chosen entries of the trainer's additional_outputs, averaged over each interval.

    Each key is logged as `outputs/<key>`: the mean over all micro-batches (and ranks) since the
    last time it was logged.
    """

    kind: str = "track_outputs"
    """Selects this callback: `track_outputs`."""
    target: ClassVar[str] = "noether.callbacks.track_outputs:TrackOutputsCallback"

    keys: list[str] = Field(min_length=1)
    """Keys of the additional_outputs to log (numbers or tensors, averaged)."""

    def logs_metric(self, key: str) -> bool:
        """`outputs/<key>` for each of `keys`."""
        return key in self.logged_metrics(None)

    def logged_metrics(self, loss_names: list[str] | None) -> list[str]:
        """`outputs/<key>` for each of `keys`."""
        return [f"outputs/{name}" for name in self.keys]

    @field_validator("keys")
    @classmethod
    def validate_keys(cls, keys: list[str]) -> list[str]:
        """Keys are non-empty and distinct."""
        if any(not key for key in keys):
            raise ValueError("keys must not be empty strings")
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"keys has duplicates: {', '.join(duplicates)}")
        return keys
