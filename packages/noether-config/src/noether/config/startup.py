"""Start-up tricks of the `noether-config` console script, each one with an off switch.

`noether-config validate` runs in pre-commit hooks and CI on every changed file, so its
start-up is measured: `tools/bench/validate_latency.py --tricks` prints the gain of each trick.
Every trick uses public APIs only and applies only where `noether-config` is the command the
process runs (`cli.main`), never to code that imports noether-config:

- `gc`: the cyclic garbage collector is off while the command runs (start-up makes many
  long-lived objects and little garbage) and everything is frozen before the process exits,
  so that interpreter shutdown does not traverse it all again.
- `plugins`: sets PYDANTIC_DISABLE_PLUGINS=1 unless it is set: pydantic otherwise reads the
  metadata of every installed distribution for its plug-ins; the command has no use for them.
- `docstrings`: a `validate` run does not read field docstrings (pydantic's
  `use_attribute_docstrings`, which re-reads the source of every schema class): nothing it
  prints shows a field description. `schema`, `kinds` and library users get them as always.

`NOETHER_CONFIG_STARTUP=plain` turns every trick off; `NOETHER_CONFIG_STARTUP=gc,docstrings`
turns the named ones off.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

TRICKS = ("gc", "plugins", "docstrings")
"""Names of the tricks, as `NOETHER_CONFIG_STARTUP` and the bench name them."""

SWITCH = "NOETHER_CONFIG_STARTUP"

_state: dict[str, bool] = {"command": False, "validating": False}
"""Whether this process runs the console script (`command`) and its `validate` command."""


def enabled(trick: str) -> bool:
    """Whether `trick` is on: not named in NOETHER_CONFIG_STARTUP, which is not `plain`."""
    off = {name.strip() for name in os.environ.get(SWITCH, "").split(",")}
    return "plain" not in off and trick not in off


def field_docstrings() -> bool:
    """Whether schema classes defined from now on read their fields' docstrings."""
    return not (_state["command"] and _state["validating"] and enabled("docstrings"))


def validating() -> None:
    """Called by the `validate` command before it imports any schema."""
    _state["validating"] = True


@contextmanager
def command(process_entry_point: bool) -> Iterator[None]:
    """Applies the tricks around the console script's run; only `gc` when `main` is called
    by other code (and then the collector is left as it was)."""
    collecting = gc.isenabled()
    if process_entry_point:
        _state["command"] = True
        if enabled("plugins"):
            os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    if enabled("gc"):
        gc.disable()
    try:
        yield
    finally:
        if process_entry_point and enabled("gc"):
            gc.freeze()
        if collecting:
            gc.enable()
