"""What the run's length defeats: callbacks that never act, log and track intervals past the
end, a schedule that cannot run its course. Notes, not errors: a run shortened on the command
line to try a config should run."""

import math

from noether.config.schemas.model import ModelConfig
from noether.config.schemas.trainer import BaseTrainerConfig

STOP_FIELDS = ("max_epochs", "max_updates", "max_samples")
"""The trainer's stop criteria (exactly one is set)."""


def stop_field(trainer: BaseTrainerConfig) -> str | None:  # type: ignore[type-arg]
    """The stop criterion that is set (`max_epochs`, ...)."""
    return next((name for name in STOP_FIELDS if getattr(trainer, name) is not None), None)


def unit_of(field: str) -> str:
    """`every_n_epochs` -> `epoch`: the unit a frequency or stop field counts in."""
    return field.rsplit("_", 1)[-1].removesuffix("s")


def last_point(
    trainer: BaseTrainerConfig,  # type: ignore[type-arg]
    unit: str,
    updates_per_epoch: int | None,
) -> int | None:
    """The count in `unit` (epoch, update, sample) at the end of training, where it is known:
    updates and samples convert by effective_batch_size, and epochs meet them only by the
    data's size (`updates_per_epoch`, known once the datasets are built; a partial last epoch
    does not count). None also for an evaluation-only run (max_* = 0)."""
    batch = trainer.effective_batch_size
    if trainer.max_epochs:
        if updates_per_epoch is None:
            return trainer.max_epochs if unit == "epoch" else None
        updates = trainer.max_epochs * updates_per_epoch
    elif trainer.max_updates:
        updates = trainer.max_updates
    elif trainer.max_samples:
        updates = math.ceil(trainer.max_samples / batch)
    else:
        return None
    if unit == "epoch":
        return updates // updates_per_epoch if updates_per_epoch is not None else None
    return updates if unit == "update" else updates * batch


def callbacks_that_never_run(
    trainer: BaseTrainerConfig,  # type: ignore[type-arg]
    updates_per_epoch: int | None = None,
) -> list[tuple[str, str]]:
    """(key path, message) of each callback whose first due point (`every_n_*`, `stop_at_*`)
    lies past the end of training: it would write no checkpoint, evaluate nothing or stop
    nothing. From the config alone (`validate`), units that meet only by the data's size are
    left out; the trainer passes `updates_per_epoch` to tell them too. A note, not an error:
    a run shortened on the command line (`trainer.max_epochs=3` under a checkpoint every 5
    epochs) is what users do to try a config, and it should run."""
    stop = stop_field(trainer)
    found: list[tuple[str, str]] = []
    for index, callback in enumerate(trainer.callbacks):
        due = callback.first_due()
        if due is None or stop is None:
            continue
        field, count = due
        unit = unit_of(field)
        last = last_point(trainer, unit, updates_per_epoch)
        if last is not None and count > last:
            size = f" at {updates_per_epoch} updates per epoch" if updates_per_epoch else ""
            found.append(
                (
                    f"trainer.callbacks.{index}.{field}",
                    f"{count} is after the last {unit} of training ({unit} {last}, from "
                    f"trainer.{stop}: {getattr(trainer, stop)}{size}), so this "
                    f"{callback.kind} callback {callback.never_due}",
                )
            )
    return found


def schedule_length_note(
    model: ModelConfig,
    trainer: BaseTrainerConfig,  # type: ignore[type-arg]
    updates_per_epoch: int | None = None,
) -> tuple[str, str] | None:
    """(key path, message) when the schedule cannot run its course in the run's updates
    (`ScheduleConfig.length_problem`: e.g. a warm-up longer than the run), where the run's length
    is known: from the config alone (max_updates, max_samples) or, given
    `updates_per_epoch` by the trainer, in epochs too. A note, not an error, as for
    `callbacks_that_never_run`: a run shortened on the command line to try a config
    (`trainer.max_updates=1`) should run."""
    schedule = model.optimizer.schedule if model.optimizer is not None else None
    updates = last_point(trainer, "update", updates_per_epoch)
    if schedule is None or updates is None:
        return None
    stop = next(name for name in STOP_FIELDS if getattr(trainer, name))
    size = f" at {updates_per_epoch} updates per epoch" if updates_per_epoch else ""
    problem = schedule.length_problem(updates, f"trainer.{stop}: {getattr(trainer, stop)}{size}")
    if problem is None:
        return None
    field, message = problem
    return f"model.optimizer.schedule.{field}", message


def run_length_notes(
    model: ModelConfig,
    trainer: BaseTrainerConfig,  # type: ignore[type-arg]
    updates_per_epoch: int | None = None,
) -> list[tuple[str, str]]:
    """(key path, message) of each part of the config that the run's length defeats: the
    callbacks that never run and a schedule longer than the run. From the config alone
    (`validate`), or with the run's `updates_per_epoch` (the trainer, once the data tells
    it)."""
    schedule = schedule_length_note(model, trainer, updates_per_epoch)
    return [
        *callbacks_that_never_run(trainer, updates_per_epoch),
        *ends_between_due_points(trainer, updates_per_epoch),
        *intervals_past_the_end(trainer, updates_per_epoch),
        *filter(None, [schedule]),
    ]


def ends_between_due_points(
    trainer: BaseTrainerConfig,  # type: ignore[type-arg]
    updates_per_epoch: int | None = None,
) -> list[tuple[str, str]]:
    """(key path, message) of each callback that misses something when the run ends between
    two of its due points (`missed_at_end`: a checkpoint every 2 epochs of 5 leaves the final
    weights unwritten), in epochs or updates, where the run's last one is known (a note)."""
    stop = stop_field(trainer)
    found: list[tuple[str, str]] = []
    for index, callback in enumerate(trainer.callbacks):
        due = callback.frequency()
        if callback.missed_at_end is None or due is None or stop is None:
            continue
        field, count = due
        unit = unit_of(field)
        last = last_point(trainer, unit, updates_per_epoch) if unit != "sample" else None
        if last is not None and count <= last and last % count:
            found.append(
                (
                    f"trainer.callbacks.{index}.{field}",
                    f"the run ends at {unit} {last} (from trainer.{stop}: "
                    f"{getattr(trainer, stop)}), after this {callback.kind} callback's last "
                    f"one at {unit} {last - last % count}: {callback.missed_at_end}",
                )
            )
    return found


_INTERVAL_EFFECTS = {
    "log": "no progress or loss line is printed before the run's end",
    "track": "nothing is tracked before the run's end, and a NaN loss is found only then",
}


def intervals_past_the_end(
    trainer: BaseTrainerConfig,  # type: ignore[type-arg]
    updates_per_epoch: int | None = None,
) -> list[tuple[str, str]]:
    """(key path, message) of a log or track interval longer than the run, as
    `callbacks_that_never_run` does for callbacks (a note)."""
    stop = stop_field(trainer)
    found: list[tuple[str, str]] = []
    for what, effect in _INTERVAL_EFFECTS.items():
        for unit in ("epoch", "update", "sample"):
            field = f"{what}_every_n_{unit}s"
            count = getattr(trainer, field)
            last = last_point(trainer, unit, updates_per_epoch)
            if stop is not None and count is not None and last is not None and count > last:
                found.append(
                    (
                        f"trainer.{field}",
                        f"{count} is after the last {unit} of training ({unit} {last}, from "
                        f"trainer.{stop}: {getattr(trainer, stop)}): {effect}",
                    )
                )
    return found
