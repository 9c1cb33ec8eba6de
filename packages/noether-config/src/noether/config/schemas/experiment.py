"""The top level of an experiment file."""

import itertools
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, PrivateAttr, model_validator

from noether.config.bool_numbers import RefusesBoolForNumber
from noether.config.default_metrics import default_metric_reader_problems
from noether.config.discriminated import Discriminated
from noether.config.errors import ConfigIssue, ConfigRulesError
from noether.config.schemas.callback import CallbackConfig
from noether.config.schemas.dataset import DatasetConfig
from noether.config.schemas.model import ModelConfig
from noether.config.schemas.names import FOLDER_NAME, MAX_NAME_LENGTH
from noether.config.schemas.run_length import last_point, run_length_notes
from noether.config.schemas.tracker import JsonlTrackerConfig, TrackerConfig
from noether.config.schemas.trainer import BaseTrainerConfig
from noether.config.startup import field_docstrings

if TYPE_CHECKING:
    from noether.config.loader.nodes import Loc


class Sources:
    """The located tree (file and line of each key) that a config was loaded from. Equal to
    any other and to none: where a config was written is no part of its value, so a loaded
    config equals one built in Python with the same values."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, Sources)

    def __hash__(self) -> int:
        return 0


def _folder_path(path: str) -> str:
    """`~` expanded; an empty path is the working directory (`.`), as earlier versions took
    it: the config.yaml of their runs still resumes."""
    return os.path.expanduser(path) or "."


class ExperimentConfig(RefusesBoolForNumber):
    """One experiment: data, model, trainer and tracker, and where its run folder goes."""

    model_config = ConfigDict(
        extra="forbid", defer_build=True, use_attribute_docstrings=field_docstrings()
    )

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=FOLDER_NAME)
    """Experiment name; runs go to `<output_path>/<name>/<run_id>`."""
    output_path: Annotated[str, AfterValidator(_folder_path)] = "runs"
    """Folder that holds all experiments' run folders (relative to the working directory;
    `~` is the home folder, `.` (or empty) the working directory itself)."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seed of Python, NumPy and torch RNGs (offset per rank and data worker), 0 to 2**32 - 1:
    torch's CPU generator and NumPy keep 32 bits of a seed, so seeds that differ only above
    them (0 and 2**32, -1 and 2**32 - 1) would give the same run."""
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda|cuda:\d+)$")
    """auto (CUDA when available), cpu, cuda or cuda:N."""
    num_workers: int = Field(default=0, ge=0)
    """Data-loader worker processes per rank (0: load batches in the training process)."""
    num_threads: int | None = Field(default=None, ge=1, le=2**31 - 1)
    """torch intra-op CPU threads per process; torch's default when absent. One thread avoids
    oversubscription when several processes share few cores. torch takes a C int."""
    datasets: dict[str, Annotated[DatasetConfig, Discriminated(DatasetConfig)]] = {}
    """Named datasets; `train` is required to train, the others are used by callbacks."""
    model: Annotated[ModelConfig, Discriminated(ModelConfig)]
    """The model to train."""
    # Unparametrised on purpose: `BaseTrainerConfig[Any]` would build one more model at import.
    trainer: Annotated[BaseTrainerConfig, Discriminated(BaseTrainerConfig)]  # type: ignore[type-arg]
    """The trainer: training loop settings, loss and callbacks."""
    tracker: Annotated[TrackerConfig, Discriminated(TrackerConfig)] = Field(
        default_factory=JsonlTrackerConfig
    )
    """Where metrics are written."""

    _sources: Sources | None = PrivateAttr(default=None)
    """Where its keys were written, when `load_config` made it; for `where`."""

    def attach_sources(self, tree: Any) -> None:
        """Remembers the located tree that `load_config` validated this config from."""
        self._sources = Sources(tree)

    def where(self, key_path: str) -> str:
        """`file:line` of a dotted key path (`trainer.callbacks.0`) in the files this config
        was loaded from (with a note such as the override that set it), so that errors found
        after validation (a kind whose package is missing) point at the line too; "" for a
        config built in Python."""
        site = self._site(key_path)
        if site is None:
            return ""
        return f"{site.file}:{site.line}" + (f" ({site.note})" if site.note else "")

    def _site(self, key_path: str) -> "Loc | None":
        if self._sources is None:
            return None
        from noether.config.loader.nodes import Loc, locate

        steps = [int(part) if part.isdigit() else part for part in key_path.split(".")]
        site = locate(self._sources.tree, steps, Loc("", None))
        return site if site.file and site.line is not None else None

    def notes(self, updates_per_epoch: int | None = None) -> list[ConfigIssue]:
        """What is valid but likely unintended: a callback that will not run in this run (see
        `callbacks_that_never_run`), a schedule longer than the run (`schedule_length_note`),
        at its file and line when loaded from files. Given the run's `updates_per_epoch` (the
        data tells it), runs measured in epochs are checked too."""
        found = []
        for key, message in run_length_notes(self.model, self.trainer, updates_per_epoch):
            site = self._site(key)
            file, line = (site.file, site.line) if site is not None else ("", None)
            if site is not None and site.note:  # an override's value: said, as errors say it
                message += f" ({site.note})"
            found.append(ConfigIssue(file, line, key, message))
        return found

    @model_validator(mode="after")
    def validate_datasets_exist(self) -> "ExperimentConfig":
        """The rules across sections: a training run needs `train`, callbacks may only name
        datasets that exist, and those of `_whole_config_problems`; every broken one is
        reported, not only the first."""
        problems = list(_whole_config_problems(self))
        if problems:
            raise ConfigRulesError(problems)
        return self


def _whole_config_problems(config: ExperimentConfig) -> Iterator[str]:
    trainer = config.trainer
    stops = (trainer.max_epochs, trainer.max_updates, trainer.max_samples)
    trains = any(value for value in stops)
    if trains and "train" not in config.datasets:
        yield "datasets.train: required to train (max_* > 0)"
    for index, callback in enumerate(trainer.callbacks):
        key = getattr(callback, "dataset_key", None)
        if key is not None and key not in config.datasets:
            known = ", ".join(sorted(config.datasets)) or "none"
            yield f"trainer.callbacks.{index}.dataset_key: no dataset {key!r} (datasets: {known})"
    yield from _ema_factor_problems(trainer.callbacks)
    yield from _latest_writer_problems(trainer.callbacks)
    yield from _metric_source_problems(trainer.callbacks, trainer.logged_losses())
    for key_path, message in default_metric_reader_problems(
        trainer, last_point(trainer, "update", None)
    ):  # a reader of a default callbacks' metric that would run before their first row
        yield f"{key_path}: {message}"
    yield from _stop_before_start_problems(trainer)


def _ema_factor_problems(callbacks: list[object]) -> Iterator[str]:
    """An `ema_factor` (offline_loss) needs a callback that averages with that factor (`ema`'s
    `target_factors`), as the runtime does; caught here, before a run folder is made."""
    offered = {
        f"{factor:g}"
        for callback in callbacks
        for factor in getattr(callback, "target_factors", None) or ()
    }
    for index, callback in enumerate(callbacks):
        factor = getattr(callback, "ema_factor", None)
        if factor is not None and f"{factor:g}" not in offered:
            known = ", ".join(sorted(offered)) or "none: add an `ema` callback"
            yield (
                f"trainer.callbacks.{index}.ema_factor: no ema callback averages with factor "
                f"{factor:g} (target_factors: {known})"
            )


def _latest_writer_problems(callbacks: list[CallbackConfig]) -> Iterator[str]:
    """Two callbacks that write `latest` with other files replace each other's: a weights-only
    one that wrote last left a `latest` that no resume can continue from."""
    writers = [(index, cb.latest_files()) for index, cb in enumerate(callbacks)]
    writers = [(index, files) for index, files in writers if files]
    for (first, files), (index, other) in itertools.pairwise(writers):
        if files != other:
            yield (
                f"trainer.callbacks.{index}: writes the rolling `latest` checkpoint as "
                f"trainer.callbacks.{first} does, with other files ({', '.join(sorted(other))} "
                f"against {', '.join(sorted(files))}): each would replace the other's; let one "
                "callback write latest"
            )


def _stop_before_start_problems(trainer: BaseTrainerConfig) -> Iterator[str]:  # type: ignore[type-arg]
    """A single stop point (`stop_at_epoch`) at or before start_at_epoch would stop the run
    before its first update."""
    start = trainer.start_at_epoch
    for index, callback in enumerate(trainer.callbacks):
        due = callback.first_due()
        if due is None or callback.periodic or not start:
            continue
        field, count = due
        if field.endswith("_epoch") and count <= start:
            yield (  # one point only, and training starts after it
                f"trainer.callbacks.{index}.{field}: {count} is not after "
                f"trainer.start_at_epoch ({start}), so this {callback.kind} callback would act "
                f"before the first update: raise {field} or lower start_at_epoch"
            )


def _reads_fresh_values(reader: CallbackConfig, source: CallbackConfig) -> bool:
    """Whether `source` runs (and logs) whenever `reader` runs, as far as the config tells:
    in the same unit, the reader's n a multiple of the source's; in different units (epochs
    and updates meet by the data's size) it is left to the run."""
    read, logged = reader.frequency(), source.frequency()
    if read is None or logged is None:
        return read is None
    return read[0] != logged[0] or read[1] % logged[1] == 0


def _show_frequency(callback: CallbackConfig) -> str:
    frequency = callback.frequency()
    return "at fixed points" if frequency is None else f"{frequency[0]}: {frequency[1]}"


OWNED_FAMILIES = ("best/", "best_update/", "outputs/", "loss/")
"""Metric families that only callbacks of the list log (`loss/online/` is the loop's own)."""


def _metric_source_problems(
    callbacks: list[CallbackConfig], loss_names: list[str] | None
) -> Iterator[str]:
    """A callback that reads a metric (`metric_key`) runs after a callback of this file that
    logs it, and only when that one runs too; otherwise it fails at its first run, or reads
    a stale value. A key that no callback logs, where the config tells every key that its
    callbacks log, is an error with the closest logged key; otherwise (a user's callback or
    trainer) it is left to the run."""
    for index, reader in enumerate(callbacks):
        key = getattr(reader, "metric_key", None)
        if not isinstance(key, str):
            continue
        where = f"trainer.callbacks.{index}"
        claims = [(i, c) for i, c in enumerate(callbacks) if i != index and c.logs_metric(key)]
        sources = [(i, c) for i, c in claims if _may_log(c, key, loss_names)]
        if not sources:
            yield from _unlogged_key_problems(where, key, callbacks, claims, loss_names)
            continue
        earlier = [(i, c) for i, c in sources if i < index]
        if not earlier:
            i, source = sources[0]
            yield (
                f"{where}.metric_key: {key!r} is logged by trainer.callbacks.{i} ({source.kind}), "
                f"which runs after this {reader.kind}: list {reader.kind} after it"
            )
            continue
        if not any(_reads_fresh_values(reader, c) for _, c in earlier):
            i, source = earlier[-1]
            yield (
                f"{where}: {reader.kind} runs {_show_frequency(reader)}, but {key!r} is logged "
                f"by trainer.callbacks.{i} ({source.kind}) {_show_frequency(source)}, so it would "
                "read a missing or stale value: give it the same frequency (or a multiple)"
            )


def _may_log(callback: CallbackConfig, key: str, loss_names: list[str] | None) -> bool:
    logged = callback.logged_metrics(loss_names)
    return logged is None or key in logged


def _unlogged_key_problems(
    where: str,
    key: str,
    callbacks: list[CallbackConfig],
    claims: list[tuple[int, CallbackConfig]],
    loss_names: list[str] | None,
) -> Iterator[str]:
    """A metric_key that no callback logs where the config tells it: one whose
    family a callback logs under other names (a misspelt field), or, when every callback's
    and the trainer's metrics are known, one of the families that only callbacks log."""
    from noether.config.similar_names import closest_first  # error messages only

    known = [c.logged_metrics(loss_names) for c in callbacks]
    if any(names is None for names in known):  # a user's callback may log it
        return
    logged = sorted({name for names in known for name in names or ()})
    close = closest_first(key, logged, cutoff=0.6, limit=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if claims:
        i, source = claims[0]
        names = ", ".join(source.logged_metrics(loss_names) or ())
        yield (
            f"{where}.metric_key: {key!r} is not logged: trainer.callbacks.{i} ({source.kind}) "
            f"logs {names}{hint}"
        )
        return
    owned = key.startswith(OWNED_FAMILIES) and not key.startswith("loss/online/")
    if loss_names is not None and owned:
        yield (
            f"{where}.metric_key: no callback logs {key!r} (they log: "
            f"{', '.join(logged) or 'nothing'}){hint}"
        )
