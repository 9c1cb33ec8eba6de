"""The typer application behind `noether-config`: commands, options and help.

`noether.config.cli.main` runs this app. Each command imports only what it needs, inside the
command. Shell completion is on (`--install-completion`, `--show-completion`).
"""

from __future__ import annotations

import contextlib
import sys
from enum import StrEnum
from typing import Annotated

import typer

app = typer.Typer(
    name="noether-config",
    help="Validate noether experiment files without torch; print their schema; list kinds.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # as noether-train
)


class OutputFormat(StrEnum):
    """Report formats of `validate`."""

    text = "text"
    json = "json"
    github = "github"


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"noether-config {version('noether-config')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool | None,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = None,
) -> None:
    """Options of noether-config itself (before the command)."""


def _report_only_on_stdout() -> contextlib.AbstractContextManager[object]:
    """Sends what imported schema modules print to stderr while a report is built, so that
    stdout holds the report alone (`--format json`, `schema > file.json` stay parseable)."""
    return contextlib.redirect_stdout(sys.stderr)


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"noether-config: error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def validate(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Experiment files, folders (searched for *.yaml, *.yml) or globs, and "
            "key.path=value overrides (YAML values) for every file.",
            metavar="PATH|KEY=VALUE",
        ),
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option(
            "--override",
            "-o",
            help="Set key.path=value (YAML value) after the positional overrides; repeatable.",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Report as text, json or github annotations.")
    ] = OutputFormat.text,
    root: Annotated[
        str | None,
        typer.Option(
            "--root",
            help="Folder that !include and extends may read from (default: the git checkout "
            "holding the file, else the folder or file's folder named).",
        ),
    ] = None,
    max_nodes: Annotated[
        int | None,
        typer.Option(
            "--max-nodes",
            min=1,
            help="Most nodes a config may expand to (aliases, merges, includes, references); "
            "default 50000.",
        ),
    ] = None,
    experiments_only: Annotated[
        bool,
        typer.Option(
            "--experiments-only",
            help="Check only experiment files (top-level trainer: or extends: key), named ones "
            "too; skip other YAML files such as CI workflows. For pre-commit hooks.",
        ),
    ] = False,
) -> None:
    """Validate experiment files; exit 0 when all are valid, 1 when any is not, 2 on misuse.

    In folders and globs, files and folders named `_*` or `.*` are fragments for extends /
    !include and are skipped; files named explicitly are always validated (unless
    --experiments-only finds no top-level trainer: or extends: key in them). Included and
    extended files must be YAML files inside the root (see --root).
    """
    from noether.config import startup

    startup.validating()
    from noether.config.cli_validate import ValidateUsageError, run_validate

    try:
        with _report_only_on_stdout():
            code, report = run_validate(
                paths or [],
                override or (),
                output.value,
                root=root,
                max_nodes=max_nodes,
                experiments_only=experiments_only,
            )
    except ValidateUsageError as error:
        raise _usage_error(str(error)) from None
    typer.echo(report)
    raise typer.Exit(code)


@app.command()
def schema(
    root: Annotated[
        str | None,
        typer.Argument(help="experiment (default) or one root: trainers, callbacks, models, ..."),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--output", "-O", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of experiment files (or of one root) for YAML editors."""
    import json

    from noether.config.cli_catalog import (
        CatalogUsageError,
        json_schema,
        registration_problems,
        schema_groups,
    )
    from noether.config.cli_catalog import kinds as list_kinds

    try:
        with _report_only_on_stdout():
            document = json_schema(root)
            rows = [row for group in schema_groups(root) for row in list_kinds(group)]
    except CatalogUsageError as error:
        raise _usage_error(str(error)) from None
    problems = registration_problems(rows)
    if problems is not None:  # the schema is still written: the other kinds are usable
        typer.echo(f"noether-config: warning: {problems}", err=True)
    text = json.dumps(document, indent=2)
    if out is None:
        typer.echo(text)
        return
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as error:
        raise _usage_error(f"cannot write {out!r}: {error.strerror or error}") from None


@app.command()
def kinds(
    group: Annotated[
        str | None,
        typer.Argument(help="One group: trainers, callbacks, optimizers, schedules, ..."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List registered kinds, their distribution and whether their implementation is installed.

    Only metadata and torch-free schema modules are read; no implementation is imported.
    Exit codes: 0 when every listed kind is usable, 1 when one is broken (marked [error]).
    """
    from noether.config.cli_catalog import CatalogUsageError, registration_problems, render_kinds
    from noether.config.cli_catalog import kinds as list_kinds

    try:
        with _report_only_on_stdout():
            rows = list_kinds(group)
    except CatalogUsageError as error:
        raise _usage_error(str(error)) from None
    typer.echo(render_kinds(rows, "json" if as_json else "text"))
    problems = registration_problems(rows)
    if problems is not None:
        typer.echo(f"noether-config: {problems}", err=True)
        raise typer.Exit(1)
