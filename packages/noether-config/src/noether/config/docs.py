"""Field docstrings (`x: int` followed by `\"\"\"doc\"\"\"`) as field descriptions.

pydantic's `use_attribute_docstrings` re-parses a module's source for every class, which made
up a large part of `noether-config` start-up. Here each module is parsed once, and the
descriptions are attached both to `model_fields` and to the JSON Schema.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from typing import Any


@functools.cache
def _module_field_docs(module_name: str) -> dict[str, dict[str, str]]:
    """Qualified class name -> field name -> docstring, for every class of a module."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return {}
    found: dict[str, dict[str, str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                name = f"{prefix}{node.name}"
                found[name] = _class_docs(node)
                visit(node.body, f"{name}.")

    visit(tree.body, "")
    return found


def _class_docs(node: ast.ClassDef) -> dict[str, str]:
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
