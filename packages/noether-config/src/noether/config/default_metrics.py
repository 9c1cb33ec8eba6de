"""When the default callbacks log: their intervals and the metric families they own.

Torch-free, so that `noether-config validate` and the trainer share one rule: validation
catches a metric reader that would run before the defaults' first row, and the trainer
schedules the defaults by the same intervals.
"""

from typing import Any

INTERVAL_UNITS = ("epochs", "updates", "samples")

INTERVAL_FRACTIONS = {"log": 100, "track": 500}
"""Unset in the config, the defaults log every 1/100 and track every 1/500 of the run."""

DEFAULT_METRIC_FAMILIES = {
    "loss/online/": "track",
    "optim/lr": "track",
    "time/": "log",
    "memory/": "log",
    "stability/": "monitor",
}
"""Metric families that the default callbacks log, each with the interval it follows: the
trainer's `track_every_n_*`, `log_every_n_*` or `monitor_interval` (updates). The defaults
run after the callbacks of `trainer.callbacks`, so a reader in that list sees their row of an
earlier update."""


def default_intervals(trainer_config: Any, total_updates: int) -> dict[str, dict[str, int | None]]:
    """The log and track intervals of a run: `{"log": {...}, "track": {...}}`, each with
    every_n_epochs / every_n_updates / every_n_samples as the trainer config sets them.

    Unset in the config, logging runs every 1/100 and tracking every 1/500 of the run's
    updates (at least every update).
    """
    result: dict[str, dict[str, int | None]] = {}
    for prefix, fraction in INTERVAL_FRACTIONS.items():
        every = {
            f"every_n_{unit}": getattr(trainer_config, f"{prefix}_every_n_{unit}")
            for unit in INTERVAL_UNITS
        }
        if all(value is None for value in every.values()):
            every["every_n_updates"] = max(1, total_updates // fraction)
        result[prefix] = every
    return result


def default_family(key: str) -> str | None:
    """The default callbacks' family that `key` belongs to (e.g. `loss/online/`), or None."""
    return next((family for family in DEFAULT_METRIC_FAMILIES if key.startswith(family)), None)


def first_default_row(
    trainer_config: Any, key: str, total_updates: int | None
) -> tuple[int, str] | None:
    """The update of the defaults' first row that holds `key`, and the setting that makes it
    so, when the config tells it in updates; None for another unit, an unknown run length,
    or a key that the defaults do not log in this run."""
    family = default_family(key)
    if family is None or not trainer_config.add_default_callbacks:
        return None
    interval = DEFAULT_METRIC_FAMILIES[family]
    if interval == "monitor":
        every = trainer_config.monitor_interval
        if not trainer_config.monitor_training_stability:
            return None
        return every, f"trainer.monitor_interval: {every}"
    field = f"{interval}_every_n_updates"
    every = getattr(trainer_config, field)
    if every is not None:
        return every, f"trainer.{field}: {every}"
    if total_updates is None:
        return None
    every = default_intervals(trainer_config, total_updates)[interval]["every_n_updates"]
    if every is None:  # set in epochs or samples
        return None
    fraction = INTERVAL_FRACTIONS[interval]
    return every, f"{field} unset: 1/{fraction} of the run's {total_updates} updates"


def default_metric_reader_problems(
    trainer_config: Any, total_updates: int | None
) -> list[tuple[str, str]]:
    """(key path, message) of each reader of a default callbacks' metric (`loss/online/total`)
    whose first run, every n updates, comes before their first row: it would fail there, as
    the defaults run after the list and a reader at update n sees their earlier rows only.
    `total_updates` is the run's length where known (`validate`: from max_updates or
    max_samples; the run: from the data's size too)."""
    problems = []
    for index, reader in enumerate(trainer_config.callbacks):
        key, frequency = getattr(reader, "metric_key", None), reader.frequency()
        if not isinstance(key, str) or frequency is None or frequency[0] != "every_n_updates":
            continue
        first = first_default_row(trainer_config, key, total_updates)
        if first is not None and frequency[1] <= first[0]:
            problems.append(
                (
                    f"trainer.callbacks.{index}.every_n_updates",
                    f"{reader.kind} first reads {key!r} at update {frequency[1]}, but the "
                    f"default callbacks log it first at update {first[0]} ({first[1]}), after "
                    "the callbacks of this list, so it would not be logged yet: raise "
                    f"every_n_updates above {first[0]}",
                )
            )
    return problems
