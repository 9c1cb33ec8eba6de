"""`noether-train`'s training run: check, make (or reopen) the run folder, build, train.

Exit codes: 0 trained; 1 missing package, failed build or failed run; 75 stopped by SIGTERM
(or SIGINT with save_on_sigint) after writing a checkpoint: resume it; 130 interrupted by
Ctrl-C without a checkpoint. Bad input is reported as messages, never as a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from noether.config import ExperimentConfig
from noether.config.schemas.initializer import (
    ResumeInitializerConfig,
)
from noether.core.build import (
    ConfigKeyError,
    build_experiment,
    init_distributed_from_env,
    resolve_device,
)
from noether.core.checkpoint import folders
from noether.core.checkpoint.initializers import finish_interrupted_checkpoints
from noether.core.cli_preflight import (
    START_ERRORS,
    Preflight,
    check_batch_split,
    is_bad_input,
    is_user_error,
    preflight,
)
from noether.core.cli_run import (
    captured_stderr,
    error,
    pass_together,
    resume_command,
    say_stopped_before_training,
)
from noether.core.cli_run_folder import (
    open_run_folder,
    put_back_config,
    record_config,
    remove_unstarted,
    stored_config_text,
)
from noether.core.data.workers import ignore_worker_exits
from noether.core.distributed import is_rank0, leave_process_group
from noether.core.launch import LaunchEnvironment, detect
from noether.core.rendezvous import Rendezvous
from noether.core.resume import (
    ResumePlan,
    check_plan_current,
    log_plan,
)
from noether.core.run_logging import logger, report, run_logging
from noether.core.run_signals import StoppedBeforeTraining
from noether.core.runs import PathProvider, lock_run_folder, run_checkpoint_dir
from noether.core.signals import EXIT_INTERRUPTED, EXIT_PREEMPTED, absorb_stop_repeats
from noether.core.trackers.base import RunOutcome, TrackerBase


def close_tracker(tracker: TrackerBase, outcome: RunOutcome, log_path: Path | None) -> bool:
    """Closes the tracker; False (the error reported, without a traceback on the console)
    when a tracker's close raises, e.g. a user's tracker."""
    try:
        tracker.close(outcome)
    except Exception as exc:
        report(exc, log_path, headline="closing the tracker failed")
        return False
    return True


def record_resumed_config(
    resume: ResumePlan,
    config: ExperimentConfig,
    config_file: Path,
    path_provider: PathProvider,
    trainer: Any,
) -> None:
    """`record_config` for a resumed run, unless it has nothing left to train: such a run is
    left as it is, and its config.yaml must keep saying how it was trained (an override given
    to the resume, e.g. another lr, trained nothing)."""
    if not _finished_at_checkpoint(resume, trainer, announce=False):
        record_config(config, config_file, path_provider)


def final_losses(trainer: Any) -> dict[str, float]:
    """The last logged value of every `loss/*` key."""
    log_writer = getattr(trainer, "log_writer", None)
    return _losses(getattr(log_writer, "last_values", {}) or {})


def checkpoint_final_losses(trainer: Any) -> dict[str, float]:
    """`final_losses` of a run left at the checkpoint it resumed from (nothing restored): the
    values its trainer state holds as logged last, which the finished run printed."""
    initializer = getattr(trainer, "initializer", None)
    state = getattr(initializer, "state", None) or {}
    return _losses(state.get("trainer", {}).get("last_values", {}))


def _losses(values: Mapping[str, float]) -> dict[str, float]:
    return {key: value for key, value in sorted(values.items()) if key.startswith("loss/")}


def print_final_losses(losses: Mapping[str, float]) -> None:
    """`final <key> = <value>` lines on stdout (rank 0), the run's result for scripts."""
    if is_rank0():
        for key, value in losses.items():
            print(f"final {key} = {value:.6g}")


def failure_headline(trainer: Any) -> str:
    """What failed, as the console reports it: where training was, or the resume (or other
    initializer) that was being applied, before the counters said where the run is."""
    initializer = getattr(trainer, "initializer", None)
    if initializer is not None and getattr(initializer, "applying", False):
        return f"{initializer.describe()} failed"
    counter = getattr(trainer, "update_counter", None)
    if counter is None:
        return "training failed at an unknown position"
    return f"training failed after update {counter.update} of {counter.total_updates}"


def interrupted_message(run_dir: Path) -> str:
    """What Ctrl-C left: where `--resume` continues (no checkpoint is written for it, unless
    save_on_sigint)."""
    newest = folders.newest_resumable(run_checkpoint_dir(run_dir))
    where = (
        "from the beginning (no resumable checkpoint yet)"
        if newest is None
        else f"from checkpoint {newest.tag} (update {newest.update})"
    )
    return f"interrupted; {resume_command(run_dir)} continues {where}"


def _finished_at_checkpoint(resume: ResumePlan | None, trainer: Any, announce: bool = True) -> bool:
    """Whether `--resume` continues from a checkpoint at (or past) the run's end.

    Such a run has nothing left to train: continuing it would only evaluate and checkpoint
    once more, adding rows that the uninterrupted run does not have. It is left as it is,
    but for what its stop cut off (`finish_interrupted_checkpoints`).
    """
    counter = getattr(trainer, "update_counter", None)
    if resume is None or resume.checkpoint is None or counter is None:
        return False
    if resume.checkpoint.update < counter.total_updates:
        return False
    if not announce:
        return True
    logger.info(
        "nothing left to train: checkpoint %s of %s is at update %d, and training ends at "
        "update %d; raise its stop criterion to continue it (e.g. trainer.max_epochs=...)",
        resume.checkpoint.tag,
        resume.run_dir,
        resume.checkpoint.update,
        counter.total_updates,
    )
    return True


def with_resume_initializer(
    config: ExperimentConfig, resume: ResumePlan | None
) -> ExperimentConfig:
    """The config to build a `--resume` with: the run's own, whose trainer continues from the
    planned checkpoint. The run's own stays what its `config.yaml` records: a copy of that
    file started as a new run trains from the start, as the original did."""
    if resume is None or resume.checkpoint is None:
        return config
    run_config = config.model_copy(deep=True)
    # the checkpoint says where the run is: a run started at start_at_epoch continues from it
    run_config.trainer.start_at_epoch = None
    run_config.trainer.initializer = ResumeInitializerConfig(
        run=str(resume.run_dir.resolve()),
        checkpoint=resume.checkpoint.tag,
        force=resume.force,
    )
    return run_config


def train(
    config: ExperimentConfig,
    config_file: Path,
    resume: ResumePlan | None = None,
    run_id: str | None = None,
    meeting: Rendezvous | None = None,
) -> int:
    """Makes (or reopens) the run folder, builds and trains; returns the exit code.

    Args:
        config: the validated experiment.
        config_file: where it came from.
        resume: `--resume`: the run (and checkpoint) to continue in its own folder.
        run_id: the new run folder's name (default: a fresh id).
        meeting: the job's other ranks (several processes): the checks before training are
            passed together, each error said once.
    """
    lock = None
    recorded, config = config, with_resume_initializer(config, resume)
    with captured_stderr() as caught:
        checked, device = _check_before_folder(config, resume)
    code = pass_together(meeting, "preflight", 0 if checked is not None else 1, caught.getvalue())
    if code or checked is None or device is None:
        return code or 1
    path_provider: PathProvider | None = None
    with captured_stderr() as caught:
        try:
            launch = init_distributed_from_env(device, meeting)
            path_provider = open_run_folder(config, resume, run_id)
            # held until training ends (this function returns): one run per folder at a time
            lock = lock_run_folder(path_provider.run_dir) if is_rank0() else None
            if resume is None:
                record_config(recorded, config_file, path_provider)
            elif is_rank0():
                check_plan_current(resume)  # planned before the lock: still what it would be?
            code = 0
        except START_ERRORS as exc:
            error(str(exc))
            code = 1
    code = pass_together(meeting, "run-folder", code, caught.getvalue())
    if code or path_provider is None:
        if lock is not None:
            lock.close()
        if resume is None and path_provider is not None:
            remove_unstarted(path_provider)
        return code or 1
    try:
        return train_in_folder(
            config, config_file, resume, checked, launch, path_provider, recorded
        )
    except StoppedBeforeTraining as stop:
        again = resume_command(
            path_provider.run_dir,
            resume.tag if resume is not None else None,
            resume is not None and resume.force,
        )
        say_stopped_before_training(stop.signal_name, "no checkpoint written", again)
        return EXIT_PREEMPTED
    finally:
        if lock is not None:
            lock.close()


def _check_before_folder(
    config: ExperimentConfig, resume: ResumePlan | None
) -> tuple[Preflight | None, torch.device | None]:
    """The checks before the run folder is made: the preflight, the device and the batch
    split for this launch's ranks; (None, None) after saying why the run cannot start."""
    try:
        checked = preflight(config, resume)
        device = resolve_device(config.device)
        check_batch_split(config, detect().world_size)
    except Exception as exc:  # e.g. a user's tracker that raises when built
        if isinstance(exc, ConfigKeyError):
            exc.locate(config)
        if is_user_error(exc, START_ERRORS):
            error(str(exc))
            return None, None
        with run_logging(None):
            report(exc, None, headline="building the experiment failed")
        return None, None
    return checked, device


def train_in_folder(
    config: ExperimentConfig,
    config_file: Path,
    resume: ResumePlan | None,
    checked: Preflight,
    launch: LaunchEnvironment,
    path_provider: PathProvider,
    recorded: ExperimentConfig,
) -> int:
    """Builds and trains `config` in the run folder that `train` opened; `recorded` is the
    config that the folder's config.yaml holds. Returns the exit code."""
    with run_logging(path_provider) as log_path:
        logger.info("config %s -> run folder %s", config_file, path_provider.run_dir)
        if launch.world_size > 1:
            logger.info(
                "launched by %s: %d ranks, rendezvous at %s:%s",
                launch.launcher,
                launch.world_size,
                launch.master_addr,
                launch.master_port,
            )
        for plan in (resume, checked.initializer_plan):
            if plan is not None:
                log_plan(plan)
        resumed_at = None
        kept_config = None
        if resume is not None:
            # no checkpoint: the run starts again, and every row of the interrupted run
            # (even the summary values of its start, at update 0) is superseded
            resumed_at = resume.checkpoint.update if resume.checkpoint is not None else -1
            kept_config = stored_config_text(path_provider)
        try:
            experiment = build_experiment(
                config,
                path_provider,
                resumed_at=resumed_at,
                tracker=checked.tracker,
                # a resume that fails to start leaves the run's config files as they were
                before_tracker_start=(
                    None
                    if resume is None
                    else functools.partial(
                        record_resumed_config, resume, recorded, config_file, path_provider
                    )
                ),
                tracked_config=recorded,
            )
        except (Exception, SystemExit) as exc:  # a user's dataset or model raised (or exited)
            if isinstance(exc, ConfigKeyError):
                exc.locate(config)
            if is_bad_input(exc):
                report(exc, log_path)
            else:
                report(exc, log_path, headline="building the experiment failed")
            put_back_config(path_provider, kept_config)  # the tracker's start may have failed
            return 1
        if resume is not None and _finished_at_checkpoint(resume, experiment.trainer):
            if is_rank0() and resume.checkpoint is not None:
                checkpoint_dir = run_checkpoint_dir(resume.run_dir)
                finish_interrupted_checkpoints(checkpoint_dir, resume.checkpoint.tag)
            closed = close_tracker(experiment.tracker, "finished", log_path)
            if closed:  # as the run printed them when it finished (killed before, maybe)
                print_final_losses(checkpoint_final_losses(experiment.trainer))
            leave_process_group()
            return 0 if closed else 1
        outcome: RunOutcome = "failed"
        closed = False
        try:
            experiment.trainer.train(experiment.model)
            outcome = "finished"
            if getattr(experiment.trainer, "stopped_by_signal", None) is not None:
                outcome = "stopped"
                absorb_stop_repeats()  # before closing the tracker: a repeat may still come
        except StoppedBeforeTraining:
            outcome = "stopped"
            raise
        except KeyboardInterrupt:
            outcome = "stopped"
            logger.error("%s", interrupted_message(path_provider.run_dir))
            return EXIT_INTERRUPTED
        except (Exception, SystemExit) as exc:  # SystemExit: sys.exit() in the user's code
            ignore_worker_exits()
            if isinstance(exc, ConfigKeyError):
                exc.locate(config)
            if is_user_error(exc):
                report(exc, log_path)
            else:
                report(exc, log_path, headline=failure_headline(experiment.trainer))
            if resumed_at is not None and experiment.trainer.update_counter.update <= max(
                resumed_at, 0
            ):
                put_back_config(path_provider, kept_config)
            return 1
        finally:
            closed = close_tracker(experiment.tracker, outcome, log_path)
        if not closed and outcome == "finished":
            return 1
        stopped_by = getattr(experiment.trainer, "stopped_by_signal", None)
        if stopped_by is not None:
            logger.warning(
                "stopped by %s; resume with: %s", stopped_by, resume_command(path_provider.run_dir)
            )
        else:
            logger.info("finished run %s", path_provider.run_dir)
    if stopped_by is None:
        print_final_losses(final_losses(experiment.trainer))
    leave_process_group()
    return EXIT_PREEMPTED if stopped_by is not None else 0
