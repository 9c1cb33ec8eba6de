"""The `noether-config` command: validate experiment files, print their JSON Schema, list kinds.

Start-up matters (it runs in pre-commit hooks and CI on every file), so each command imports
only what it needs, inside the command.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

app = typer.Typer(
    name="noether-config",
    help="Validate noether experiment files without torch; print their schema; list kinds.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class OutputFormat(StrEnum):
    """Report formats of `validate`."""

    text = "text"
    json = "json"
    github = "github"


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"noether-config: error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def validate(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Experiment files, folders (searched for *.yaml, *.yml) or globs."),
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option("--override", "-o", help="Set key.path=value (YAML value); repeatable."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Report as text, json or github annotations.")
    ] = OutputFormat.text,
) -> None:
    """Validate experiment files; exit 0 when all are valid, 1 when any is not, 2 on misuse.

    In folders and globs, files and folders named `_*` or `.*` are fragments for extends /
    !include and are skipped; files named explicitly are always validated.
    """
    from noether.config.cli_paths import PathUsageError, select_files
    from noether.config.cli_validate import render, validate_file

    if not paths:
        raise _usage_error("give at least one file, folder or glob to validate")
    try:
        selection = select_files(paths)
    except PathUsageError as error:
        raise _usage_error(str(error)) from None
    if not selection.files:
        raise _usage_error(
            "no experiment files found in "
            + ", ".join(repr(p) for p in paths)
            + f" ({len(selection.skipped)} fragment(s) skipped)"
        )
    results = [validate_file(path, override or ()) for path in selection.files]
    typer.echo(render(results, selection.skipped, output.value))
    raise typer.Exit(0 if all(result.valid for result in results) else 1)


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

    from noether.config.cli_catalog import CatalogUsageError, json_schema

    try:
        document = json_schema(root)
    except CatalogUsageError as error:
        raise _usage_error(str(error)) from None
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
    """
    from noether.config.cli_catalog import CatalogUsageError, render_kinds
    from noether.config.cli_catalog import kinds as list_kinds

    try:
        rows = list_kinds(group)
    except CatalogUsageError as error:
        raise _usage_error(str(error)) from None
    typer.echo(render_kinds(rows, "json" if as_json else "text"))


def main() -> None:
    """Console-script entry point; turns any unexpected failure into a message and exit 1."""
    # pydantic looks for its plug-ins by scanning every installed distribution's metadata when
    # the first model is built; a validating CLI has no use for them and a quick start-up has.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # never a traceback for the user
        typer.echo(f"noether-config: internal error: {type(error).__name__}: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
