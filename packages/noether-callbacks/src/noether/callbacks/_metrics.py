"""Reading logged metrics and comparing them, shared by the metric-based callbacks."""

from __future__ import annotations

import math
from typing import Any, Literal

from noether.config.default_metrics import default_family
from noether.config.similar_names import closest_first
from noether.core.callbacks import CallbackConfigError
from noether.core.distributed import broadcast_object

Mode = Literal["min", "max"]


class MissingMetricError(CallbackConfigError, RuntimeError):
    """A metric-based callback ran before its metric was logged."""


def current_values(log_writer: Any) -> dict[str, float]:
    """The latest value of every key: flushed values, overlaid with those buffered for the row
    being written now (so a metric logged earlier in the same update is seen at once)."""
    return dict(log_writer.latest_values())


def read_metric(log_writer: Any, key: str, reader: str, key_path: str | None = None) -> float:
    """Returns the latest logged value of `key` as a float: rank 0's on every rank.

    Rank 0's value is the one its tracker writes, and every rank must decide alike (a stop on
    one rank only, or a checkpoint that one rank writes alone, leaves the others waiting in a
    collective). A metric that each rank computes on its own data, or that only rank 0 logs,
    would make them differ, so rank 0's value is broadcast (all ranks read their metrics at
    the same updates). Called on every rank.

    Args:
        key_path: where the reader's `metric_key` sits in the experiment, for the error.

    Raises:
        MissingMetricError: the key was never logged; names the logged keys and the ordering
            rule, because the usual cause is a callback listed before the one that logs it.
    """
    local = log_writer.get(key)
    value = broadcast_object(None if local is None else float(local))
    if value is None and _before_first_default_row(key, current_values(log_writer)):
        raise MissingMetricError(
            f"{reader}: metric {key!r} has not been logged yet: the default callbacks log it "
            "after the callbacks of trainer.callbacks have run, so "
            f"{reader} reads the value of their previous row, and there is none at its first "
            "run. Make its first run come after the default callbacks' first row (every "
            "track_every_n_updates for loss/online/ and optim/lr, log_every_n_updates for "
            "the others), e.g. with a larger every_n_updates",
            key_path,
        )
    if value is None:  # misspelt, or read before the callback that logs it
        logged = sorted(current_values(log_writer))
        close = closest_first(key, logged, cutoff=0.6, limit=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(logged) or "none yet"
        raise MissingMetricError(
            f"{reader}: metric {key!r} has not been logged (logged keys: {known}){hint}. "
            "Callbacks run "
            f"in the order of trainer.callbacks: list {reader} after the callback that logs "
            f"{key!r} (e.g. offline_loss) and give both the same frequency",
            key_path,
        )
    return float(value)


def _before_first_default_row(key: str, logged: dict[str, float]) -> bool:
    """Whether `key` belongs to a default callbacks' family of which nothing is logged yet
    (once one of its keys is, a missing one is misspelt)."""
    family = default_family(key)
    return family is not None and not any(name.startswith(family) for name in logged)


def is_improvement(value: float, best: float | None, mode: Mode, min_delta: float = 0.0) -> bool:
    """Whether `value` beats `best` by more than `min_delta`; NaN never improves."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    if mode == "min":
        return value < best - min_delta
    return value > best + min_delta


def within_tolerance(value: float, best: float, mode: Mode, percent: float) -> bool:
    """Whether `value` is at most `percent` % worse than `best` (relative to |best|)."""
    slack = abs(best) * percent / 100.0
    if mode == "min":
        return value <= best + slack
    return value >= best - slack


def safe_tag(key: str) -> str:
    """A metric key as one folder name: `loss/val/total` -> `loss.val.total`."""
    return "".join(c if c.isalnum() or c in "._-=" else "." for c in key.replace("/", "."))
