"""Field docstrings (`x: int` followed by `\"\"\"doc\"\"\"`) as field descriptions.

pydantic's `use_attribute_docstrings` re-parses a module's source for every class, which made
up a large part of `noether-config` start-up. Here each module is parsed once, and the
descriptions are attached both to `model_fields` and to the JSON Schema. What a parse finds is
kept beside the module's bytecode (`__pycache__/<module>.<tag>.field-docs`, stamped with the
source's mtime and size like a .pyc), so that later processes skip the parse.
"""

from __future__ import annotations

import contextlib
import functools
import marshal
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ast

_CACHE_FORMAT = 1
"""Bump when what `_parse_field_docs` extracts changes, so that old cache files are ignored."""

ModuleDocs = dict[str, dict[str, str]]


@functools.cache
def _module_field_docs(module_name: str) -> ModuleDocs:
    """Qualified class name -> field name -> docstring, for every class of a module."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        return {}
    try:
        status = os.stat(path)
    except OSError:
        return {}
    stamp = (status.st_mtime_ns, status.st_size)
    cache = _cache_path(module)
    if cache is not None:
        cached = _read_cache(cache, stamp)
        if cached is not None:
            return cached
    found = _parse_field_docs(path)
    if found is None:
        return {}
    if cache is not None and not sys.dont_write_bytecode:
        _write_cache(cache, stamp, found)
    return found


def _cache_path(module: Any) -> str | None:
    """Where the docs of `module` are kept: beside its bytecode, if it has a .pyc path."""
    cached = getattr(module, "__cached__", None)
    if not isinstance(cached, str) or not cached.endswith(".pyc"):
        return None
    return cached[: -len(".pyc")] + ".field-docs"


def _read_cache(cache: str, stamp: tuple[int, int]) -> ModuleDocs | None:
    try:
        with open(cache, "rb") as handle:
            data = marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (
        isinstance(data, tuple)
        and len(data) == 3
        and data[0] == _CACHE_FORMAT
        and data[1] == stamp
        and isinstance(data[2], dict)
    ):
        return data[2]
    return None


def _write_cache(cache: str, stamp: tuple[int, int], docs: ModuleDocs) -> None:
    """Writes atomically; a folder that cannot be written to only means no cache."""
    temporary = f"{cache}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as handle:
            marshal.dump((_CACHE_FORMAT, stamp, docs), handle)
        os.replace(temporary, cache)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _parse_field_docs(path: str) -> ModuleDocs | None:
    """Field docstrings of every class in a source file; None when it cannot be read."""
    import ast

    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    found: ModuleDocs = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                name = f"{prefix}{node.name}"
                found[name] = _class_docs(node)
                visit(node.body, f"{name}.")

    visit(tree.body, "")
    return found


def _class_docs(node: ast.ClassDef) -> dict[str, str]:
    import ast
    import inspect

    docs: dict[str, str] = {}
    for statement, following in zip(node.body, node.body[1:], strict=False):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            name = statement.target.id
        elif (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            name = statement.targets[0].id
        else:
            continue
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[name] = inspect.cleandoc(following.value.value)
    return docs


def field_docs(cls: type) -> dict[str, str]:
    """Docstrings of the fields of `cls` and its bases (a subclass's docstring wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ in ("builtins", "typing") or klass.__module__.startswith("pydantic"):
            continue
        docs.update(_module_field_docs(klass.__module__).get(klass.__qualname__, {}))
    return docs


def describe_fields(cls: Any) -> None:
    """Sets `description` of fields that have none from their docstrings."""
    docs = field_docs(cls)
    for name, info in cls.model_fields.items():
        if info.description is None and name in docs:
            info.description = docs[name]


def add_field_docs(cls: type, json_schema: dict[str, Any]) -> None:
    """Fills missing property descriptions of a model's JSON Schema from field docstrings."""
    docs = field_docs(cls)
    for name, prop in json_schema.get("properties", {}).items():
        if isinstance(prop, dict) and "description" not in prop and name in docs:
            prop["description"] = docs[name]
