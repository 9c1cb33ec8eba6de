"""The `noether-config` command: validate experiment files, print their JSON Schema, list kinds.

The typer app in `noether.config.cli_app` owns the commands, help texts and usage errors;
`main` runs it as the console script and turns unexpected failures into a message.
"""

from __future__ import annotations

import sys

from noether.config import startup
from noether.config.cli_app import OutputFormat, app, kinds, schema, validate

__all__ = ["OutputFormat", "app", "kinds", "main", "schema", "validate"]


def _is_process_entry_point() -> bool:
    """Whether `main` is what this process runs (console script or `python -m`), not a call
    from code that lives on afterwards."""
    return getattr(sys.modules.get("__main__"), "main", None) is main


def main() -> None:
    """Console-script entry point; turns any unexpected failure into a message and exit 1.

    Start-up tricks (`noether.config.startup`) apply around the run.
    """
    with startup.command(_is_process_entry_point()):
        _main()


def _main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # never a traceback for the user
        sys.stderr.write(f"noether-config: internal error: {type(error).__name__}: {error}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
