"""`noether-train CONFIG [key=value ...]`: validate, make a run folder, build, train.

`noether-train --resume RUN_DIR [--checkpoint TAG] [--force] [CONFIG] [key=value ...]`
continues a run in its own folder from its newest complete checkpoint (or TAG), with the
run's stored config (or CONFIG), after checking that the config still fits the checkpoint.

Exit codes: 0 trained; 1 bad config, missing package, refused resume or failed run; 2 usage
(e.g. no such config file or run folder); 75 stopped by SIGTERM (or SIGINT with
save_on_sigint) after writing a checkpoint: resume it; 130 interrupted by Ctrl-C without a
checkpoint. Bad input is reported as messages, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from noether.config import ConfigError, ExperimentConfig, KindError, load_config
from noether.config.schemas.initializer import ResumeInitializerConfig
from noether.core.build import (
    BuildError,
    build_experiment,
    create_path_provider,
    init_distributed_from_env,
    resolve_device,
)
from noether.core.checkpoint.folders import CheckpointError
from noether.core.checkpoint.initializers import InitializerError
from noether.core.distributed import get_rank, is_rank0, leave_process_group
from noether.core.resume import (
    ResumePlan,
    add_config_dir_to_path,
    log_plan,
    plan_resume,
    retire_later_checkpoints,
    write_config_text,
    write_run_info,
)
from noether.core.runs import PathProvider, find_run_dir
from noether.core.signals import EXIT_INTERRUPTED, EXIT_PREEMPTED
from noether.core.trainer.nonfinite import NonFiniteLossError
from noether.core.trainer.types import TrainStepError

logger = logging.getLogger("noether.train")
# Tracebacks of reported errors: written to train.log only, the console gets the message.
details_logger = logging.getLogger("noether.train.details")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

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
# While building, a ValueError (e.g. a dataset smaller than one batch) is bad input, too.
BUILD_ERRORS: tuple[type[BaseException], ...] = (*USER_ERRORS, ValueError)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: a config file (optional with --resume) and overrides."""
    parser = argparse.ArgumentParser(
        prog="noether-train",
        description="Train the experiment described by a YAML config file, or resume a run.",
    )
    parser.add_argument(
        "args",
        nargs="*",
        metavar="CONFIG | key=value",
        help="experiment YAML file, then overrides of any key, each parsed as YAML "
        "(trainer.max_epochs=3); with --resume the file is optional",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue this run folder from its newest complete checkpoint",
    )
    parser.add_argument(
        "--run-id",
        metavar="ID",
        help="name of the new run folder <output_path>/<name>/ID (default: a fresh "
        "timestamped id); an existing folder is refused: continue it with --resume",
    )
    parser.add_argument(
        "--checkpoint", metavar="TAG", help="with --resume: the checkpoint to continue from"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --resume: accept config changes that make the run differ from the "
        "uninterrupted one",
    )
    args = parser.parse_args(argv)
    positional = list(args.args)
    args.config = positional.pop(0) if positional and "=" not in positional[0] else None
    args.overrides = positional
    if args.config is None and args.resume is None:
        parser.error("a config file is required (or --resume RUN_DIR)")
    if args.resume is None and (args.checkpoint or args.force):
        parser.error("--checkpoint and --force go with --resume")
    if args.resume is not None and args.run_id is not None:
        parser.error("--run-id names a new run; --resume continues an existing one")
    return args


@contextlib.contextmanager
def run_logging(path_provider: PathProvider | None) -> Iterator[None]:
    """Python logging to the console and (rank 0) to the run's train.log, for this run only.

    Rank 0 writes INFO and above to the console; other ranks only warnings and errors,
    prefixed with their rank, so a multi-process run prints each line once.
    """
    root = logging.getLogger()
    rank = get_rank()
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(lambda record: not record.name.startswith(details_logger.name))
    if rank == 0:
        console.setFormatter(logging.Formatter(LOG_FORMAT))
    else:
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter(f"[rank {rank}] {LOG_FORMAT}"))
    handlers: list[logging.Handler] = [console]
    if path_provider is not None and is_rank0():
        file_handler = logging.FileHandler(path_provider.log_path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handlers.append(file_handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(previous_level)


def write_resolved_config(config: ExperimentConfig, path_provider: PathProvider) -> None:
    """The validated config with every default filled in, as `config.yaml` of the run."""
    if is_rank0():
        text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
        write_config_text(path_provider.config_path, text)


def final_losses(trainer: Any) -> dict[str, float]:
    """The last logged value of every `loss/*` key."""
    log_writer = getattr(trainer, "log_writer", None)
    values: dict[str, float] = getattr(log_writer, "last_values", {}) or {}
    return {key: value for key, value in sorted(values.items()) if key.startswith("loss/")}


def error(message: str) -> None:
    """One message on stderr, prefixed with the program name."""
    print(f"noether-train: {message}", file=sys.stderr)


def report(exc: BaseException) -> None:
    """The error's message on the console and in train.log, its traceback in train.log only."""
    logger.error("%s", exc)
    details_logger.error("traceback of the error above", exc_info=exc)


def check_resume_initializer(config: ExperimentConfig) -> ResumePlan | None:
    """For `trainer.initializer: {kind: resume}`: the checkpoint, checked against the config."""
    initializer = config.trainer.initializer
    if not isinstance(initializer, ResumeInitializerConfig):
        return None
    run_dir = find_run_dir(config.output_path, config.name, initializer.run)
    return plan_resume(
        run_dir, initializer.checkpoint, config.model_dump(mode="json"), initializer.force
    )


def open_run_folder(
    config: ExperimentConfig, resume: ResumePlan | None, run_id: str | None
) -> PathProvider:
    """A new run folder, or the resumed run's own folder (`--resume`)."""
    if resume is None:
        return create_path_provider(config, run_id)
    run_dir = resume.run_dir.resolve()
    return PathProvider(
        run_dir.parent.parent,
        run_dir.parent.name,
        run_dir.name,
        reuse_existing=True,
        create=is_rank0(),
    )


def train(
    config: ExperimentConfig,
    config_file: Path,
    resume: ResumePlan | None = None,
    run_id: str | None = None,
) -> int:
    """Makes (or reopens) the run folder, builds and trains; returns the exit code.

    Args:
        config: the validated experiment.
        config_file: where it came from.
        resume: `--resume`: the run (and checkpoint) to continue in its own folder.
        run_id: the new run folder's name (default: a fresh id).
    """
    try:
        initializer_plan = check_resume_initializer(config) if resume is None else None
        device = resolve_device(config.device)
        launch = init_distributed_from_env(device)
        path_provider = open_run_folder(config, resume, run_id)
    except USER_ERRORS as exc:
        error(str(exc))
        return 1
    if is_rank0() and config_file.resolve() != path_provider.config_path.resolve():
        write_run_info(path_provider, config_file)  # not when resumed from its stored copy
    write_resolved_config(config, path_provider)
    with run_logging(path_provider):
        logger.info("config %s -> run folder %s", config_file, path_provider.run_dir)
        if launch.world_size > 1:
            logger.info(
                "launched by %s: %d ranks, rendezvous at %s:%s",
                launch.launcher,
                launch.world_size,
                launch.master_addr,
                launch.master_port,
            )
        for plan in (resume, initializer_plan):
            if plan is not None:
                log_plan(plan)
        if resume is not None and is_rank0():
            retire_later_checkpoints(resume)
        resumed_at = None
        if resume is not None:
            resumed_at = resume.checkpoint.update if resume.checkpoint is not None else 0
        try:
            experiment = build_experiment(config, path_provider, resumed_at=resumed_at)
        except BUILD_ERRORS as exc:
            report(exc)
            return 1
        try:
            experiment.trainer.train(experiment.model)
        except USER_ERRORS as exc:
            report(exc)
            return 1
        except KeyboardInterrupt:
            logger.error("interrupted")
            return EXIT_INTERRUPTED
        except Exception:
            logger.exception("training failed")
            return 1
        finally:
            experiment.tracker.close()
        stopped_by = getattr(experiment.trainer, "stopped_by_signal", None)
        if stopped_by is not None:
            logger.warning(
                "stopped by %s; resume with: noether-train --resume %s",
                stopped_by,
                path_provider.run_dir,
            )
        else:
            logger.info("finished run %s", path_provider.run_dir)
    if is_rank0() and stopped_by is None:
        for key, value in final_losses(experiment.trainer).items():
            print(f"final {key} = {value:.6g}")
    leave_process_group()
    return EXIT_PREEMPTED if stopped_by is not None else 0


def load(config_file: Path, overrides: Sequence[str]) -> ExperimentConfig | int:
    """The validated config, or the exit code after saying why there is none."""
    if not config_file.is_file():
        error(f"config file not found: {config_file}")
        return 2
    try:
        return load_config(config_file, overrides)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        error(f"{config_file} is not a valid experiment config")
        return 1


def resume_run(args: argparse.Namespace) -> int:
    """`--resume RUN_DIR`: the stored (or given) config, checked against the checkpoint."""
    run_dir = Path(args.resume)
    if not (run_dir / "config.yaml").is_file():
        error(f"--resume {run_dir}: not a run folder (it has no config.yaml)")
        return 2
    if args.config is None:
        add_config_dir_to_path(run_dir)  # the user's modules next to the original config
    config_file = Path(args.config) if args.config is not None else run_dir / "config.yaml"
    config = load(config_file, args.overrides)
    if isinstance(config, int):
        return config
    try:
        plan = plan_resume(run_dir, args.checkpoint, config.model_dump(mode="json"), args.force)
    except (CheckpointError, InitializerError) as exc:
        error(str(exc))
        return 1
    if plan.checkpoint is not None:
        config.trainer.initializer = ResumeInitializerConfig(
            run=str(run_dir.resolve()), checkpoint=plan.checkpoint.tag, force=args.force
        )
    return train(config, config_file, resume=plan)


def run(argv: Sequence[str] | None = None) -> int:
    """The whole command; returns the exit code."""
    args = parse_args(argv)
    if args.resume is not None:
        return resume_run(args)
    config_file = Path(args.config)
    config = load(config_file, args.overrides)
    if isinstance(config, int):
        return config
    return train(config, config_file, run_id=args.run_id)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
