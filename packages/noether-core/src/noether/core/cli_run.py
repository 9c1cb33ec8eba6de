"""What `noether-train` does once its command line is read: find the config, then train,
print the config or dry-run.

The config of a new run is the given file with its overrides; with `--resume` it is the run's
stored config (or the given file), checked against the checkpoint it continues from. torch is
imported only by the steps that need it, so `--print-config` of a new run stays quick.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from noether.config import ConfigError, ExperimentConfig, load_config

if TYPE_CHECKING:
    from noether.core.launch import LaunchEnvironment
    from noether.core.rendezvous import Rendezvous
    from noether.core.resume import ResumePlan

Action = Literal["train", "print-config", "dry-run"]


@dataclass(frozen=True)
class TrainRequest:
    """The command line of one `noether-train` call, checked for usage."""

    config_file: Path | None
    """The experiment file; None with --resume (the run's stored config)."""
    overrides: Sequence[str] = ()
    """`key.path=value`, positional ones first, then those of `-o`."""
    resume: Path | None = None
    checkpoint: str | None = None
    force: bool = False
    run_id: str | None = None
    action: Action = "train"
    root: Path | None = None
    """The folder that `!include` and `extends:` may read from (default: the git checkout
    holding the config, else the config's folder), as `noether-config validate --root`."""


@dataclass(frozen=True)
class ResolvedRun:
    """The validated config to run and where it came from."""

    config: ExperimentConfig
    config_file: Path
    resume: ResumePlan | None = None
    """With --resume: the checkpoint it continues from, checked against `config`."""


def error(message: str, prefix: str = "") -> None:
    """One message on stderr, prefixed with the program name, in one write: the ranks of a
    job share the console."""
    sys.stderr.write(f"{prefix}noether-train: {message}\n")


def say_stopped_before_training(signal_name: str, written: str, again: str) -> None:
    """The message of a run that a signal stopped before training began. Every rank that got
    the signal says it, so it carries the rank but on rank 0, as the run's log lines do."""
    from noether.core.launch import LaunchError, detect

    try:
        launch = detect()
    except LaunchError:
        launch = None
    rank = launch.rank if launch is not None else 0
    prefix = f"[rank {rank}] " if rank else ""
    message = f"stopped by {signal_name} before training began, {written}: {again}"
    if launch is not None and launch.launcher == "torchrun" and launch.world_size > 1:
        # the usual cause: a rank that failed while starting, whose error the user must read
        message += (
            f" (torchrun sends {signal_name} to every rank when one fails: if one did, its own "
            "error says why)"
        )
    error(message, prefix)


@contextlib.contextmanager
def captured_stderr() -> Iterator[io.StringIO]:
    """What a start check prints on stderr, kept to be said once for all ranks
    (`pass_together`); printed at once when the check is cut short (e.g. by a signal)."""
    caught = io.StringIO()
    try:
        with contextlib.redirect_stderr(caught):
            yield caught
    except BaseException:
        sys.stderr.write(caught.getvalue())
        raise


def pass_together(meeting: Rendezvous | None, step: str, code: int, text: str) -> int:
    """A start check's outcome for this rank: its exit code (0: go on) once the ranks agreed,
    its printed `text` said once (see `Rendezvous.agree`); alone, the text and the code."""
    if meeting is None:
        sys.stderr.write(text)
        return code
    from noether.core.rendezvous import RendezvousError

    try:
        return meeting.agree(step, code, text)
    except RendezvousError as exc:
        error(str(exc))
        return code or 1


RUN_PACKAGES = ("noether-config", "noether-core", "noether-trainers", "noether-callbacks", "torch")
"""Packages whose versions all ranks of a run must share."""


def run_facts(config: ExperimentConfig) -> dict[str, str]:
    """What every rank of one run must have alike: each config value (by key path) and the
    versions of the packages that train it."""
    facts: dict[str, str] = {}

    def flatten(value: object, path: str) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                flatten(item, f"{path}.{key}" if path else str(key))
        else:
            facts[path] = json.dumps(value, sort_keys=True)

    flatten(config.model_dump(mode="json"), "")
    for package in RUN_PACKAGES:
        try:
            facts[f"version of {package}"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[f"version of {package}"] = "not installed"
    return facts


def refusal(differences: Sequence[str], shown: int = 5) -> str:
    """The message of a rank whose config or packages differ from rank 0's ('' if none)."""
    if not differences:
        return ""
    more = len(differences) - shown
    lines = [*differences[:shown], *([f"... and {more} more"] if more > 0 else [])]
    return (
        "noether-train: the ranks of this job would train different runs (a config file, an "
        "override or an installation differs between them); this rank differs from rank 0 "
        "in:\n" + "".join(f"  {line}\n" for line in lines)
    )


def meet(launch: LaunchEnvironment) -> Rendezvous | int:
    """The job's other ranks, met (see `noether.core.rendezvous`); or exit code 1 after
    saying why they did not meet."""
    from noether.core.rendezvous import RendezvousError, join

    try:
        return join(launch)
    except (RendezvousError, ValueError) as exc:  # LaunchError is a ValueError
        error(str(exc))
        return 1


def resolved_config_text(config: ExperimentConfig) -> str:
    """The validated config with every default filled in, as YAML (the run's config.yaml)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _missing(path: Path) -> bool:
    """Nothing is at `path` (or a symlink to nothing). A FIFO, a symlink loop or a file that
    cannot be read is there: the loader says why it cannot be read (exit 1)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return True
    except OSError:
        return False
    return False


def load(
    config_file: Path, overrides: Sequence[str], notes: bool = True, root: Path | None = None
) -> ExperimentConfig | int:
    """The validated config, or the exit code after saying why there is none; with `notes`,
    also what is valid but likely not meant (every rank validates, one rank says it)."""
    if _missing(config_file):
        error(f"config file not found: {config_file}")
        return 2
    if os.path.isdir(config_file):  # Path.is_dir raises on a folder that cannot be searched
        error(f"{config_file} is a folder, not a config file")
        return 2
    try:
        config = load_config(config_file, overrides, root=root)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        error(f"{config_file} is not a valid experiment config")
        return 1
    # valid, but likely not meant (a callback that will not run)
    for note in config.notes() if notes else ():
        error(f"note: {note}")
    return config


def resolve(request: TrainRequest, rank: int = 0) -> ResolvedRun | int:
    """The config of the request (with its resume plan), or the exit code after saying why
    there is none: 2 for a missing file or run folder, 1 for a bad config or refused resume.
    Notes on the config are printed by rank 0 only."""
    if request.resume is None:
        assert request.config_file is not None
        from noether.core.run_info import add_config_dir_to_path, run_of_config

        source_run = run_of_config(request.config_file)
        if source_run is not None:  # a run's config.yaml: its modules are by the original
            note = add_config_dir_to_path(source_run)
            if note is not None and rank == 0:
                error(f"note: {note}")
        config = load(request.config_file, request.overrides, rank == 0, request.root)
        if isinstance(config, int):
            return config
        return ResolvedRun(config, request.config_file)
    return resolve_resume(request, request.resume, rank)


def resolve_resume(request: TrainRequest, run_dir: Path, rank: int = 0) -> ResolvedRun | int:
    """`--resume RUN_DIR`: the stored (or given) config, checked against the checkpoint."""
    from noether.core.checkpoint.folders import CheckpointError
    from noether.core.checkpoint.initializers import InitializerError
    from noether.core.resume import plan_resume
    from noether.core.run_info import add_config_dir_to_path
    from noether.core.runs import run_config_path

    if not run_dir.is_dir():
        what = "is no folder" if run_dir.exists() else "does not exist"
        error(f"--resume {run_dir}: {what} (give a run folder, <output_path>/<name>/<run id>)")
        return 2
    if not run_config_path(run_dir).is_file():
        error(f"--resume {run_dir}: not a run folder (it has no config.yaml)")
        return 2
    if request.config_file is None:
        note = add_config_dir_to_path(run_dir)  # the user's modules next to the original config
        if note is not None:
            error(f"note: {note}")
    config_file = request.config_file or run_config_path(run_dir)
    config = load(config_file, request.overrides, rank == 0, request.root)
    if isinstance(config, int):
        return config
    try:
        plan = plan_resume(
            run_dir, request.checkpoint, config.model_dump(mode="json"), request.force
        )
    except (CheckpointError, InitializerError) as exc:
        error(str(exc))
        return 1
    # the config stays the run's own (its config.yaml); training adds the resume initializer
    return ResolvedRun(config, config_file, resume=plan)


def execute(request: TrainRequest) -> int:
    """Runs the request; returns the exit code.

    A training run holds `stop_signals_around_training` from here to its end, so SIGTERM
    while it starts or closes ends it with the documented exit code, not as a kill.
    """
    if request.action != "train":
        sys.dont_write_bytecode = True  # writing nothing: no __pycache__ of the user's modules
        return _execute(request)
    from noether.core.run_signals import (
        EXIT_PREEMPTED,
        StoppedBeforeTraining,
        stop_signals_around_training,
    )

    try:
        with stop_signals_around_training():
            return _execute(request)
    except StoppedBeforeTraining as stop:  # before a run folder was made (or reopened)
        again = (
            resume_command(request.resume, request.checkpoint, request.force)
            if request.resume
            else "start it again"
        )
        say_stopped_before_training(stop.signal_name, "nothing written", again)
        return EXIT_PREEMPTED


def resume_command(run_dir: Path, checkpoint: str | None = None, force: bool = False) -> str:
    """The command that continues `run_dir`, from the checkpoint the user named if any; in a
    job of several processes, launched as this one was (one process alone is refused)."""
    from noether.core.launch import LaunchError, detect

    words = ["noether-train", "--resume", shlex.quote(str(run_dir))]  # pasted into a shell
    if checkpoint is not None:
        words += ["--checkpoint", shlex.quote(checkpoint)]
    command = " ".join([*words, "--force"] if force else words)
    try:
        launch = detect()
    except LaunchError:
        return command
    if launch.world_size == 1:
        return command
    return f"{command}, launched as this job was ({launch.launcher}, {launch.world_size} processes)"


def _execute(request: TrainRequest) -> int:
    from noether.core.launch import LaunchError, detect

    try:
        launch = detect()  # read again where needed; checked once here
    except LaunchError as exc:
        error(f"launch environment: {exc}")
        return 1
    if request.action == "train":
        return _train(request, launch)
    if launch.rank > 0:  # under a launcher: every rank checks, rank 0 says it
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return _report(request, launch.rank)
    return _report(request, launch.rank)


def _report(request: TrainRequest, rank: int) -> int:
    """`--print-config` or `--dry-run`: the exit code after saying what the run would be."""
    if request.action == "print-config":
        # what the user's schema modules print goes to stderr: stdout is the YAML alone
        with contextlib.redirect_stdout(sys.stderr):
            resolved = resolve(request, rank)
        if isinstance(resolved, int):
            return resolved
        sys.stdout.write(resolved_config_text(resolved.config))
        return 0
    resolved = resolve(request, rank)
    if isinstance(resolved, int):
        return resolved
    from noether.core.cli_dry_run import dry_run

    return dry_run(resolved, request.run_id)


def _train(request: TrainRequest, launch: LaunchEnvironment) -> int:
    """A training run: the ranks check the config together, then train."""
    from noether.core.run_signals import raise_if_stopped_before, stop_signals_deferred

    # several ranks meet once the config is read: each start check's error is said once
    with captured_stderr() as caught:
        resolved = resolve(request, launch.rank)
    if launch.world_size > 1 or not isinstance(resolved, int):
        with stop_signals_deferred():  # see there: a signal in torch's import was lost
            import torch  # noqa: F401
    meeting = meet(launch) if launch.world_size > 1 else None
    if isinstance(meeting, int):
        raise_if_stopped_before()  # the peer that left was ended by the same signal
        sys.stderr.write(caught.getvalue())
        return resolved if isinstance(resolved, int) else meeting
    code = pass_together(
        meeting, "config", resolved if isinstance(resolved, int) else 0, caught.getvalue()
    )
    if code or isinstance(resolved, int):
        return code or 1
    if meeting is not None:
        different = meeting.differences("run-facts", run_facts(resolved.config))
        code = pass_together(meeting, "same-run", 1 if different else 0, refusal(different))
        if code:
            return code
    from noether.core.cli_train import train

    return train(
        resolved.config,
        resolved.config_file,
        resume=resolved.resume,
        run_id=request.run_id,
        meeting=meeting,
    )
