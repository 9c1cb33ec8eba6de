"""The `noether-config` command: validate experiment files, print their JSON Schema, list kinds.

Start-up matters (it runs in pre-commit hooks and CI on every file): a plain `validate` call
(paths, `-o/--override VALUE`, `--format VALUE`, `--root DIR`, `--max-nodes N`,
`--experiments-only`) is parsed here and run without importing typer, whose import and
parameter set-up cost more than validating a file. Everything else (help, other commands,
anything unusual or wrong on the command line) goes to the typer app in
`noether.config.cli_app`, which owns the help texts and usage errors; both run the same code.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from noether.config.cli_app import OutputFormat, app, kinds, schema, validate

__all__ = ["OutputFormat", "app", "kinds", "main", "schema", "validate"]

_APP_NAMES = frozenset({"OutputFormat", "app", "kinds", "schema", "validate"})
_FORMATS = ("text", "json", "github")


def __getattr__(name: str) -> Any:
    """The typer app and its commands, imported on first use."""
    if name not in _APP_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from noether.config import cli_app

    value = getattr(cli_app, name)
    globals()[name] = value
    return value


_OPTIONS = ("-o", "--override", "--format", "--root", "--max-nodes")


def _plain_validate_call(args: list[str]) -> dict[str, Any] | None:
    """Arguments of `run_validate` for `validate ...` when typer would parse it the same way.

    Only the unambiguous spellings are accepted; None sends the call to typer (help, `--`,
    `-oVALUE`, unknown options, values that look like options, a bad format or number, no
    path, ...).
    """
    if not args or args[0] != "validate" or "_NOETHER_CONFIG_COMPLETE" in os.environ:
        return None
    call: dict[str, Any] = {"paths": [], "overrides": [], "output": "text"}
    rest = iter(args[1:])
    for token in rest:
        if not token.startswith("-"):
            call["paths"].append(token)
            continue
        if token == "--experiments-only":
            call["experiments_only"] = True
            continue
        option, equals, value = token.partition("=")
        if option in _OPTIONS and not equals:
            value = next(rest, "-")
        elif option not in _OPTIONS or option == "-o":
            return None  # -oVALUE, --help, --, -, unknown options: typer decides
        if value.startswith("-"):
            return None
        if option == "--format":
            if value not in _FORMATS:
                return None
            call["output"] = value
        elif option == "--root":
            call["root"] = value
        elif option == "--max-nodes":
            if not (value.isascii() and value.isdigit() and int(value) >= 1):
                return None
            call["max_nodes"] = int(value)
        else:
            call["overrides"].append(value)
    return call if call["paths"] else None


def _run_plain_validate(call: dict[str, Any]) -> int:
    """Runs `validate` as the typer command would: same report, messages and exit codes."""
    from noether.config.cli_validate import ValidateUsageError, run_validate

    try:
        code, report = run_validate(**call)
    except ValidateUsageError as error:
        _write(sys.stderr, f"noether-config: error: {error}")
        return 2
    _write(sys.stdout, report)
    return code


def _write(stream: Any, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


def _skip_pydantic_plugin_loader() -> None:
    """Spares the import of `importlib.metadata` (a fifth of a validate run) when plug-ins are off.

    pydantic imports `pydantic.plugin._loader`, and with it `importlib.metadata`, to ask
    `get_plugins()` when it builds the first validator, even when PYDANTIC_DISABLE_PLUGINS makes
    that answer empty. This installs a stand-in whose `get_plugins()` gives that same empty
    answer; any other name asked of it loads the real module in its place.
    """
    name = "pydantic.plugin._loader"
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in ("1", "true", "__all__"):
        return
    if name in sys.modules:
        return
    import types

    import pydantic.plugin  # the parent, so that `import pydantic.plugin._loader as x` works

    stand_in = types.ModuleType(name, "Stand-in of pydantic's plug-in loader: plug-ins are off.")

    def get_plugins() -> tuple[()]:
        if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in ("1", "true", "__all__"):
            return ()
        return _real_loader().get_plugins()  # type: ignore[no-any-return]

    def _real_loader() -> Any:
        import importlib

        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return importlib.import_module(name)

    def stand_in_getattr(attribute: str) -> Any:
        if attribute.startswith("__"):  # the import system asks for `__path__` and the like
            raise AttributeError(attribute)
        return getattr(_real_loader(), attribute)

    stand_in.get_plugins = get_plugins  # type: ignore[attr-defined]
    stand_in.__getattr__ = stand_in_getattr  # type: ignore[method-assign]
    sys.modules[name] = stand_in
    pydantic.plugin._loader = stand_in  # type: ignore[attr-defined]


def _is_process_entry_point() -> bool:
    """Whether `main` is what this process runs (console script or `python -m`), not a call
    from code that lives on afterwards."""
    return getattr(sys.modules.get("__main__"), "main", None) is main


def main() -> None:
    """Console-script entry point; turns any unexpected failure into a message and exit 1.

    The cyclic garbage collector is off while it runs: start-up creates many long-lived objects
    (schemas, validators) and little garbage, so its passes only cost time. Before the process
    exits, everything is frozen (`gc.freeze`), so that interpreter shutdown does not traverse
    it all once more; together that is a tenth of a `validate` run.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        _main()
    finally:
        if _is_process_entry_point():
            gc.freeze()
        if collecting:
            gc.enable()


def _main() -> None:
    # pydantic looks for its plug-ins by scanning every installed distribution's metadata when
    # the first model is built; a validating CLI has no use for them and a quick start-up has.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    _skip_pydantic_plugin_loader()
    try:
        plain = _plain_validate_call(sys.argv[1:])
        if plain is not None:
            sys.exit(_run_plain_validate(plain))
        from noether.config.cli_app import app

        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # never a traceback for the user
        _write(sys.stderr, f"noether-config: internal error: {type(error).__name__}: {error}")
        sys.exit(1)


if __name__ == "__main__":
    main()
