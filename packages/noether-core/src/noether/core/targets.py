"""Whether every component of an experiment can be built: each kind's `target` imports.

`noether-train` asks this right after validating the config, before it makes a run folder or
builds anything, so a kind whose package is missing costs no dataset build and leaves no
folder behind; `--dry-run` asks it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from noether.config import KindError, RegistryBase


class MissingImplementationError(KindError):
    """One or more kinds of a config whose implementation cannot be imported (named each)."""


def components(node: Any, path: str = "") -> Iterator[tuple[str, RegistryBase]]:
    """Every config in `node` that names a runtime class, with its key path, depth first.

    E.g. `("model", ...)`, `("model.optimizer.schedule", ...)`, `("trainer.callbacks.0", ...)`.
    """
    if isinstance(node, RegistryBase) and node.target:
        yield path or "<root>", node
    if isinstance(node, BaseModel):
        children: Any = ((name, getattr(node, name)) for name in type(node).model_fields)
    elif isinstance(node, dict):
        children = node.items()
    elif isinstance(node, list | tuple):
        children = enumerate(node)
    else:
        return
    for key, child in children:
        yield from components(child, f"{path}.{key}" if path else str(key))


def _import_problem(component: RegistryBase) -> str | None:
    try:
        component.load_target()
    except KindError as error:
        return str(error)
    except ImportError as error:
        return f"importing {component.target!r} failed: {error}"
    except AttributeError:
        module, _, name = component.target.partition(":")
        return f"{component.target!r}: module {module!r} has no {name!r}"
    return None


def check_targets(config: BaseModel) -> int:
    """Imports the runtime class of every component of `config`.

    Returns:
        How many components were checked.

    Raises:
        MissingImplementationError: some could not be imported; one line per component with
            its key path, its kind and why (the package to install, when it is missing).
    """
    found = list(components(config))
    where = getattr(config, "where", None)  # an ExperimentConfig knows its files' lines
    problems = []
    for path, component in found:
        problem = _import_problem(component)
        if problem is not None:
            site = where(f"{path}.kind") if where is not None else ""
            at = f"{site}: " if site else ""
            problems.append(f"  {at}{path} (kind {component.kind!r}): {problem}")
    if problems:
        raise MissingImplementationError(
            "cannot build this experiment, nothing was built:\n" + "\n".join(problems)
        )
    return len(found)
