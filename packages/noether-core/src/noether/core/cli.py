"""`noether-train CONFIG [key=value ...]`: validate, make a run folder, build, train.

Exit codes: 0 trained; 1 bad config, missing package or failed run; 2 usage (e.g. no such
config file). Bad input is reported as messages, never as a traceback.
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
from noether.core.build import (
    BuildError,
    build_experiment,
    create_path_provider,
    init_distributed_from_env,
    resolve_device,
)
from noether.core.checkpoint.initializers import InitializerError
from noether.core.distributed import is_rank0, leave_process_group
from noether.core.runs import PathProvider
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
    FileNotFoundError,
    FileExistsError,
    TrainStepError,
)
# While building, a ValueError (e.g. a dataset smaller than one batch) is bad input, too.
BUILD_ERRORS: tuple[type[BaseException], ...] = (*USER_ERRORS, ValueError)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: a config file and overrides."""
    parser = argparse.ArgumentParser(
        prog="noether-train",
        description="Train the experiment described by a YAML config file.",
    )
    parser.add_argument("config", help="experiment YAML file")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="override any key, the value parsed as YAML (trainer.max_epochs=3)",
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def run_logging(path_provider: PathProvider | None) -> Iterator[None]:
    """Python logging to the console and (rank 0) to the run's train.log, for this run only."""
    root = logging.getLogger()
    formatter = logging.Formatter(LOG_FORMAT)
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(lambda record: not record.name.startswith(details_logger.name))
    handlers: list[logging.Handler] = [console]
    if path_provider is not None and is_rank0():
        handlers.append(logging.FileHandler(path_provider.log_path, encoding="utf-8"))
    previous_level = root.level
    root.setLevel(logging.INFO)
    for handler in handlers:
        handler.setFormatter(formatter)
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
        path_provider.config_path.write_text(text, encoding="utf-8")


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


def train(config: ExperimentConfig, config_file: Path) -> int:
    """Makes the run folder, builds and trains; returns the exit code."""
    try:
        device = resolve_device(config.device)
        init_distributed_from_env(device)
        path_provider = create_path_provider(config)
    except USER_ERRORS as exc:
        error(str(exc))
        return 1
    write_resolved_config(config, path_provider)
    with run_logging(path_provider):
        logger.info("config %s -> run folder %s", config_file, path_provider.run_dir)
        try:
            experiment = build_experiment(config, path_provider)
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
            return 130
        except Exception:
            logger.exception("training failed")
            return 1
        finally:
            experiment.tracker.close()
        logger.info("finished run %s", path_provider.run_dir)
    if is_rank0():
        for key, value in final_losses(experiment.trainer).items():
            print(f"final {key} = {value:.6g}")
    leave_process_group()
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """The whole command; returns the exit code."""
    args = parse_args(argv)
    config_file = Path(args.config)
    if not config_file.is_file():
        error(f"config file not found: {config_file}")
        return 2
    try:
        config = load_config(config_file, args.overrides)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        error(f"{config_file} is not a valid experiment config")
        return 1
    return train(config, config_file)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
