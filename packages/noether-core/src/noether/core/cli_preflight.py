"""What `noether-train` (and `--dry-run`) checks before the run folder is made, and which
errors are bad input: reported as a message, never as a traceback."""

from __future__ import annotations

from dataclasses import dataclass

from noether.config import ExperimentConfig, KindError
from noether.config.batching import split_batch
from noether.config.schemas.initializer import (
    CheckpointInitializerConfig,
    ResumeInitializerConfig,
)
from noether.core.build import BuildError, build_component
from noether.core.checkpoint.folders import CheckpointError
from noether.core.checkpoint.initializers import InitializerError, build_initializer
from noether.core.failures import from_user_code, lost_worker_connection, raised_in_user_code
from noether.core.launch import LaunchError
from noether.core.resume import ResumePlan, plan_resume
from noether.core.runs import RunFolderError, RunInUseError, find_run_dir
from noether.core.targets import check_targets
from noether.core.trackers.base import TrackerBase
from noether.core.trainer.types import NonFiniteLossError, TrainStepError

# Errors that describe bad input or set-up, reported as a message without a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    KindError,
    BuildError,
    InitializerError,
    CheckpointError,
    NonFiniteLossError,
    FileNotFoundError,
    FileExistsError,
    TrainStepError,
)


class BatchSplitError(ValueError):
    """The effective batch cannot be spread over the ranks of this launch."""


# Before the run folder is made: also a batch that the launch's ranks cannot share.
START_ERRORS: tuple[type[BaseException], ...] = (
    *USER_ERRORS,
    BatchSplitError,
    LaunchError,
    RunFolderError,
    RunInUseError,
)


def is_user_error(
    exc: BaseException, errors: tuple[type[BaseException], ...] = USER_ERRORS
) -> bool:
    """Whether an error is bad input or set-up, one of `errors` (said as a message), rather
    than a failure (said with its type and the user's line): a missing file that the user's
    own code opened (a dataset reading its files, also in a data worker) is the latter, and
    so is the socket of a data worker that died while it handed over a batch."""
    if isinstance(exc, (FileNotFoundError, FileExistsError)) and from_user_code(exc):
        return False
    if lost_worker_connection(exc):
        return False
    return isinstance(exc, errors)


def is_bad_input(exc: BaseException) -> bool:
    """`is_user_error` for a build error: also a ValueError that noether or a library raised
    on the config's values (one that the user's own constructor raised is a failure)."""
    if isinstance(exc, RunInUseError):
        return True
    if isinstance(exc, USER_ERRORS):
        return is_user_error(exc)
    return isinstance(exc, ValueError) and not raised_in_user_code(exc)


def check_initializer(config: ExperimentConfig) -> ResumePlan | None:
    """For `trainer.initializer: {kind: resume}`: the checkpoint, checked against the config;
    for `{kind: checkpoint}`: that its weights file exists (before the run folder is made)."""
    initializer = config.trainer.initializer
    if isinstance(initializer, CheckpointInitializerConfig):
        build_initializer(initializer, None)
    if not isinstance(initializer, ResumeInitializerConfig):
        return None
    run_dir = find_run_dir(config.output_path, config.name, initializer.run)
    return plan_resume(
        run_dir, initializer.checkpoint, config.model_dump(mode="json"), initializer.force
    )


@dataclass(frozen=True)
class Preflight:
    """What a run checks before it makes its folder (and a dry run checks too)."""

    components: int
    """Components whose implementation was imported."""
    tracker: TrackerBase
    """Built (not started): its library is installed."""
    initializer_plan: ResumePlan | None
    """A `resume` initializer's checkpoint, checked against the config (see `check_initializer`)."""


def preflight(config: ExperimentConfig, resume: ResumePlan | None) -> Preflight:
    """Imports every kind's implementation, builds the tracker and asks what it can tell
    before its start (`TrackerBase.check`), and checks the initializer (`check_initializer`),
    so that none of them fails after the run folder was made.

    Raises:
        Any of USER_ERRORS: what the run would fail with.
    """
    components = check_targets(config)
    tracker = build_component(config.tracker)
    tracker.check()
    initializer_plan = check_initializer(config) if resume is None else None
    return Preflight(components, tracker, initializer_plan)


def check_batch_split(config: ExperimentConfig, world_size: int) -> None:
    """The trainer's batch rule for this launch's ranks (`split_batch`), checked once the
    world size is known and before the run folder is made.

    Raises:
        BatchSplitError: e.g. an effective batch that is not a multiple of the ranks.
    """
    trainer = config.trainer
    try:
        split_batch(
            trainer.effective_batch_size,
            trainer.max_batch_size,
            world_size,
            trainer.disable_gradient_accumulation,
        )
    except ValueError as exc:
        key = "trainer.effective_batch_size"
        site = config.where(key)
        raise BatchSplitError(f"{site + ': ' if site else ''}{key}: {exc}") from None
