"""The `noether-train` command line (typer, like `noether-config`).

    noether-train CONFIG [KEY=VALUE]... [-o KEY=VALUE]... [--run-id ID] [--root DIR]
    noether-train --resume RUN_DIR [--checkpoint TAG] [--force] [CONFIG] [KEY=VALUE]...
    noether-train --print-config CONFIG [KEY=VALUE]...
    noether-train --dry-run CONFIG [KEY=VALUE]...

Exit codes: 0 trained (or printed, or checked); 1 bad config, missing package, refused resume
or failed run; 2 usage (e.g. no such config file or run folder); 75 stopped by SIGTERM (or
SIGINT with save_on_sigint) after writing a checkpoint: resume it; 130 interrupted by Ctrl-C
without a checkpoint. Bad input is reported as messages, never as a traceback.

This module imports no torch: `--help`, `--version` and shell completion answer at once; the
work is done by `noether.core.cli_run`.
"""

from __future__ import annotations

import atexit
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

PROG = "noether-train"
VERSIONS = ("noether-core", "noether-config", "noether-trainers", "noether-callbacks", "torch")
"""Distributions whose version `--version` prints (or that they are not installed)."""

app = typer.Typer(
    name=PROG,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    for name in VERSIONS:
        try:
            typer.echo(f"{name} {version(name)}")
        except PackageNotFoundError:  # said, for bug reports: kinds of it cannot run here
            typer.echo(f"{name} not installed")
    raise typer.Exit()


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"{PROG}: error: {message} (see {PROG} --help)", err=True)
    return typer.Exit(2)


@app.command()
def noether_train(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="CONFIG|KEY=VALUE",
            help="The experiment YAML file (optional with --resume), then overrides of any "
            "key, each value parsed as YAML: trainer.max_epochs=3.",
            show_default=False,
        ),
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option(
            "--override",
            "-o",
            metavar="KEY=VALUE",
            help="Override a key, like a positional KEY=VALUE (applied after those); repeatable.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN_DIR",
            help="Continue this run folder from its newest complete checkpoint, in place.",
            show_default=False,
        ),
    ] = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            metavar="TAG",
            help="With --resume: the checkpoint to continue from.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="With --resume: accept config changes that make the run differ from the "
            "uninterrupted one.",
        ),
    ] = False,
    run_id: Annotated[
        str | None,
        typer.Option(
            metavar="ID",
            help="Name of the new run folder <output_path>/<name>/ID (default: a fresh "
            "timestamped id); an existing folder is refused: continue it with --resume.",
            show_default=False,
        ),
    ] = None,
    root: Annotated[
        str | None,
        typer.Option(
            "--root",
            metavar="DIR",
            help="Folder that !include and extends may read from (default: the git checkout "
            "holding the config, else the config's folder), as for noether-config validate.",
            show_default=False,
        ),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            help="Print the resolved config (every default filled in, as the run folder's "
            "config.yaml) and exit.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check that every kind's package is installed, build datasets and model, "
            "check that item 0 of the train dataset has the keys the trainer reads, print "
            "parameter counts, the batch plan and the run folder, and exit.",
        ),
    ] = False,
    show_version: Annotated[
        bool | None,
        typer.Option(
            "--version",
            help="Print the versions of noether and torch and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = None,
) -> None:
    """Train the experiment of a YAML config file, or continue a run with --resume.

    --print-config and --dry-run check a run without training it and write nothing. Exit
    codes: 0 done; 1 bad config, missing package, refused resume or failed run; 2 usage;
    75 stopped by a signal after writing a checkpoint (resume it); 130 interrupted.
    """
    from noether.config.cli_words import split_overrides

    others, overrides = split_overrides(words or [])
    if len(others) > 1:
        raise _usage_error(
            f"unexpected argument {others[1]!r}: give one config file; overrides are key.path=value"
        )
    config_file = Path(others[0]) if others else None
    if config_file is None and resume is None:
        raise _usage_error("a config file is required (or --resume RUN_DIR)")
    if resume is None and (checkpoint is not None or force):
        raise _usage_error("--checkpoint and --force go with --resume")
    if resume is not None and run_id is not None:
        raise _usage_error("--run-id names a new run; --resume continues an existing one")
    if run_id is not None:
        from noether.core.runs import check_run_id

        try:
            check_run_id(run_id)
        except ValueError as exc:
            raise _usage_error(f"--run-id: {exc}") from None
    if root is not None and not (root and Path(root).is_dir()):  # '': an unset variable
        raise _usage_error(f"--root {root!r} is not a folder")
    if print_config and dry_run:
        raise _usage_error("--print-config and --dry-run exclude each other")
    from noether.core.cli_run import TrainRequest, execute

    request = TrainRequest(
        config_file=config_file,
        overrides=(*overrides, *(override or ())),
        resume=resume,
        checkpoint=checkpoint,
        force=force,
        run_id=run_id,
        root=Path(root) if root is not None else None,
        action="print-config" if print_config else "dry-run" if dry_run else "train",
    )
    raise typer.Exit(execute(request))


def run(argv: Sequence[str] | None = None) -> int:
    """The whole command, as the console script runs it; returns the exit code. Called from
    Python, it puts back what the run changed in the process (`caller_state_kept`).

    Args:
        argv: the arguments after the program name (default: `sys.argv[1:]`).
    """
    from noether.core.caller_state import caller_state_kept

    with caller_state_kept():  # a sweep calling `run` in a loop draws anew each time
        return _command(argv)


def _command(argv: Sequence[str] | None) -> int:
    """The command and its exit code; the console script's process ends after it, so nothing
    is put back (a launcher's SIGTERM after a failure finds the exit code decided at once)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not {"--version", "--help", "-h"} & set(args):  # those answer whatever is installed
        from noether.core.installed import mismatch_message

        mismatch = mismatch_message(PROG)  # before importing what a mismatch may lack
        if mismatch is not None:
            typer.echo(mismatch, err=True)
            return 1
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name=PROG)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def _after_exit_hooks() -> None:
    run_signals = sys.modules.get("noether.core.run_signals")  # imported by a training run
    if run_signals is not None:
        run_signals.after_exit_hooks()


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    atexit.register(_after_exit_hooks)  # registered first: runs after every other exit hook
    code = _command(argv)
    run_signals = sys.modules.get("noether.core.run_signals")  # imported by a training run
    if run_signals is not None:
        run_signals.exiting(code)  # the exit code is decided: a signal in the teardown keeps it
    signals = sys.modules.get("noether.core.signals")  # imported by a run (torch), not here
    if signals is not None and code == signals.EXIT_PREEMPTED:
        signals.absorb_stop_repeats(exiting=True)  # a repeat of the stop signal: 75 too
    sys.exit(code)


if __name__ == "__main__":
    main()
