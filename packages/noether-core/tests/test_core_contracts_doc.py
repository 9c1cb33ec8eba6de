"""CONTRACTS.md and the README call noether-core's classes as their constructors are written.

Every "`Class(arg, key=default)`" of those pages that names one noether-core class: each
argument name is a parameter of it and each default is the one in the code.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import noether.core

PAGES = [Path(__file__).resolve().parents[1] / name for name in ("CONTRACTS.md", "README.md")]
CALL = re.compile(r"`([A-Z]\w*)\(([^`()]*)\)")


def core_classes() -> dict[str, set[type]]:
    found: dict[str, set[type]] = {}
    for info in pkgutil.walk_packages(noether.core.__path__, "noether.core."):
        if any(part in info.name for part in ("testing", "wandb", "mlflow")):
            continue
        for name, value in vars(importlib.import_module(info.name)).items():
            if inspect.isclass(value) and value.__module__.startswith("noether.core"):
                found.setdefault(name, set()).add(value)
    return found


def literal(text: str) -> tuple[object] | None:
    """(value,) for a literal default (`0`, `None`, `"finished"`); None for anything else."""
    try:
        return (ast.literal_eval(text),) if text not in ("", "...") else None
    except (ValueError, SyntaxError):
        return None  # `...` or a name: a value passed in a call, not a default


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_documented_constructor_calls_match_the_code(page: Path) -> None:
    classes = core_classes()
    text = re.sub(r"\s*\n\s*", " ", page.read_text(encoding="utf-8"))
    wrong = []
    for call in CALL.finditer(text):
        candidates = classes.get(call.group(1), set())
        if len(candidates) != 1:
            continue  # not noether-core's, or a name with two meanings
        (cls,) = candidates
        try:
            params = inspect.signature(cls).parameters
        except ValueError:  # a builtin's constructor (exceptions)
            continue
        for arg in re.split(r",(?![^\[]*\])", call.group(2)):
            name, _, default = (part.strip() for part in arg.partition("="))
            name = name.split(":")[0].strip()
            if not name or name in ("*", "...") or "." in name or name[0].isupper():
                continue  # a base class or an elision, not a parameter
            if name not in params:
                wrong.append(f"{call.group(0)}: {cls.__name__} has no parameter {name!r}")
                continue
            actual = params[name].default
            if literal(default) is not None and literal(default) != (actual,):
                wrong.append(f"{call.group(0)}: {name} defaults to {actual!r} in the code")
    assert not wrong, "\n".join(wrong)
