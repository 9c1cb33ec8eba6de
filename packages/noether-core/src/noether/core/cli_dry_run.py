"""`noether-train --dry-run`: everything a run checks and builds before its first update,
without a run folder or any file.

It validates (done by the caller), imports every kind's implementation, builds the tracker
(not started), the datasets and the model (initialized, so freezing and the optimizer are
checked too, and checked against a checkpoint initializer's weights), and prints parameter
counts, the batch plan of the trainer, where the run would write and what the data's size tells is
likely not meant (a warm-up longer than a run measured in epochs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from noether.config import BaseTrainerConfig
from noether.config.batching import MicroBatchPlan, split_batch
from noether.config.schemas.initializer import CheckpointInitializerConfig
from noether.core.build import (
    ConfigKeyError,
    build_datasets,
    build_model,
    check_metric_readers,
    resolve_device,
    seed_everything,
)
from noether.core.callbacks.default.param_count import count_parameters
from noether.core.checkpoint.initializers import build_initializer
from noether.core.checkpoint.weights_initializer import CheckpointInitializer
from noether.core.cli_preflight import is_bad_input, preflight
from noether.core.cli_run import ResolvedRun, error
from noether.core.counters import UpdateCounter
from noether.core.data.item_keys import check_train_item
from noether.core.launch import detect
from noether.core.precision import choose_precision
from noether.core.resume import ResumePlan, later_checkpoints
from noether.core.run_logging import report, run_logging
from noether.core.runs import check_run_folder_free
from noether.core.trainer.batching import epoch_updates
from noether.core.trainer.forward_check import check_forward_signature

NEW_RUN_ID = "<a new run id>"


@dataclass(frozen=True)
class DryRunReport:
    """What a dry run found; `lines()` is what it prints."""

    config_file: Path
    components: int
    device: torch.device
    precision: str
    """The autocast dtype the run would use, with the reason where it is not the asked one."""
    compile: str
    """`off`, or the torch.compile call the run would make (`compile_model`)."""
    dataset_sizes: dict[str, int | None]
    item_keys: int
    """Keys of item 0 of the train dataset that the trainer's config names (all there)."""
    model_name: str
    trainable: int
    frozen: int
    world_size: int
    plan: MicroBatchPlan
    updates_per_epoch: int
    counter: UpdateCounter
    run_dir: str
    resume: ResumePlan | None
    initializer: ResumePlan | None
    initial_weights: str | None
    """What a checkpoint initializer loads (`CheckpointInitializer.describe_fit`)."""
    data_notes: list[str]
    """Notes that the data's size tells (a run in epochs): those of `validate` are printed
    before the report, as a run prints them."""

    def lines(self) -> list[str]:
        counter = self.counter
        lines = [
            f"dry run of {self.config_file}: nothing was written",
            f"  implementations: {self.components} importable",
            f"  device: {self.device}",
            f"  precision: {self.precision}",
            f"  compile: {self.compile}",
            *(
                f"  dataset {key}: {'unknown' if size is None else size} samples"
                for key, size in self.dataset_sizes.items()
            ),
            *(
                [f"  train item 0: has the {self.item_keys} keys the trainer reads"]
                if self.item_keys
                else []
            ),
            f"  model: {self.model_name}",
            f"  parameters: {self.trainable:,} trainable, {self.frozen:,} frozen",
            f"  processes: {self.world_size}",
            f"  effective batch: {counter.effective_batch_size}",
            f"  per-rank batch: {self.plan.batch_size}",
            f"  per-rank micro-batches: {'+'.join(map(str, self.plan.sizes))}",
            f"  accumulation steps: {self.plan.accumulation_steps}",
            f"  updates per epoch: {self.updates_per_epoch}",
            f"  total updates: {counter.total_updates} ({_in_epochs(counter)})",
        ]
        for label, plan in (("resume", self.resume), ("initializer", self.initializer)):
            if plan is not None:
                lines += describe_resume(label, plan, counter.total_updates)
        if self.initial_weights is not None:
            lines.append(f"  initial weights: {self.initial_weights}")
        lines.append(f"  run folder: {self.run_dir}")
        lines += [f"  note: {note}" for note in self.data_notes]
        return lines


def describe_resume(label: str, plan: ResumePlan, total_updates: int) -> list[str]:
    """Where a resumed run continues from, and what resuming would change in its folder."""
    checkpoint = plan.checkpoint
    if checkpoint is None:
        return [f"  {label}: {plan.run_dir} has no checkpoint: it would start again"]
    lines = [
        f"  {label}: {plan.run_dir} from checkpoint {checkpoint.tag} (epoch "
        f"{checkpoint.epoch}, update {checkpoint.update}, sample {checkpoint.sample}); "
        f"{max(total_updates - checkpoint.update, 0)} updates left"
    ]
    lines += [f"  changed since the checkpoint: {change}" for change in plan.changes]
    lines += [f"  changed (forced, not exact): {change}" for change in plan.forced]
    if label == "resume":
        lines += [
            f"  would delete checkpoint {info.tag}: it is past the resumed position"
            for info in later_checkpoints(plan)
        ]
    return lines


def planned_run_dir(resolved: ResolvedRun, run_id: str | None) -> str:
    """The folder the run would write to (`NEW_RUN_ID` for a fresh id).

    Raises:
        FileExistsError: `run_id` names an existing folder (a run would refuse it).
        RunInUseError: the resumed run still trains (a run would refuse it).
    """
    if resolved.resume is not None:
        check_run_folder_free(resolved.resume.run_dir)  # as the run would
        return f"{resolved.resume.run_dir} (continued in place)"
    config = resolved.config
    run_dir = Path(config.output_path) / config.name / (run_id or NEW_RUN_ID)
    if run_id is not None and run_dir.exists():
        raise FileExistsError(
            f"run folder {run_dir} exists; runs are never overwritten (omit the run id to "
            "start a new run)"
        )
    return str(run_dir)


def _size(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


def _in_epochs(counter: UpdateCounter) -> str:
    """The run's length in whole epochs and the updates of a last, partial one."""
    epochs, updates = divmod(counter.total_updates, counter.updates_per_epoch)
    whole = f"{epochs} epoch{'' if epochs == 1 else 's'}"
    return f"{whole} and {updates} update{'' if updates == 1 else 's'}" if updates else whole


def _compile_call(trainer: BaseTrainerConfig[Any]) -> str:
    if not trainer.use_torch_compile:
        return "off"
    options = trainer.compile_options
    kwargs = {} if options is None else options.model_dump()
    return f"torch.compile({', '.join(f'{key}={value!r}' for key, value in kwargs.items())})"


def inspect_run(resolved: ResolvedRun, run_id: str | None) -> DryRunReport:
    """Checks and builds what the run would, without writing; the report of it all.

    Raises:
        Exception: what the run would fail with (`cli_preflight.is_bad_input` tells how to
            say it).
    """
    config = resolved.config
    checked = preflight(config, resolved.resume)
    run_dir = planned_run_dir(resolved, run_id)
    device = resolve_device(config.device)
    launch = detect()
    seed_everything(config.seed + launch.rank)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    data_container = build_datasets(config)
    item_checked = check_train_item(config.trainer, data_container)
    check_metric_readers(config.trainer, data_container)
    model = build_model(config)
    check_forward_signature(config.trainer, data_container, model)
    trainer = config.trainer
    plan = split_batch(
        trainer.effective_batch_size,
        trainer.max_batch_size,
        launch.world_size,
        trainer.disable_gradient_accumulation,
    )
    per_epoch = epoch_updates(trainer, data_container)
    counter = UpdateCounter(
        updates_per_epoch=per_epoch,
        effective_batch_size=trainer.effective_batch_size,
        max_epochs=trainer.max_epochs,
        max_updates=trainer.max_updates,
        max_samples=trainer.max_samples,
        start_epoch=trainer.start_at_epoch or 0,
    )
    model.initialize(counter.total_updates)
    initial_weights = None
    if isinstance(trainer.initializer, CheckpointInitializerConfig):
        loaded = build_initializer(trainer.initializer, None)
        if isinstance(loaded, CheckpointInitializer):  # they fit the model, as its start checks
            initial_weights = loaded.describe_fit(model)
    trainable, frozen = count_parameters(model)
    told = {note.key for note in config.notes()}  # by the CLI before the dry run
    return DryRunReport(
        config_file=resolved.config_file,
        components=checked.components,
        device=device,
        precision=choose_precision(trainer.precision, device).describe(trainer.precision),
        compile=_compile_call(trainer),
        dataset_sizes={key: _size(data_container.get_dataset(key)) for key in config.datasets},
        item_keys=item_checked,
        model_name=type(model).__name__,
        trainable=trainable,
        frozen=frozen,
        world_size=launch.world_size,
        plan=plan,
        updates_per_epoch=per_epoch,
        counter=counter,
        run_dir=run_dir,
        resume=resolved.resume,
        initializer=checked.initializer_plan,
        initial_weights=initial_weights,
        data_notes=[str(note) for note in config.notes(per_epoch) if note.key not in told],
    )


def dry_run(resolved: ResolvedRun, run_id: str | None) -> int:
    """Runs the checks and builds, prints the report (rank 0 only); returns the exit code."""
    with run_logging(None):
        try:
            inspected = inspect_run(resolved, run_id)
        except Exception as exc:  # e.g. a user's dataset or model that raises when built
            if isinstance(exc, ConfigKeyError):
                exc.locate(resolved.config)  # at its file and line, as a run says it
            if is_bad_input(exc):
                error(str(exc))
            else:
                report(exc, None, headline="building the experiment failed")
            return 1
    if detect().rank == 0:
        for line in inspected.lines():
            print(line)
    return 0
