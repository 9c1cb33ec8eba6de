"""How schema classes and fields that take any kind of a root appear in JSON Schema.

A field such as `model` or `trainer.callbacks[]` becomes a dispatch on `kind`: `kind` offers
every registered kind (and dotted paths), and the schema of the kind written applies through
`if`/`then`. Editors complete the kinds from one list and the fields of the kind chosen;
validators report errors inside the chosen kind. (A `oneOf` of the kinds makes an editor offer
only the kinds closest to what is typed, and a validator report only that no kind matched.)
A dotted path gets the root's schema: the base fields of a user's own subclass (its own fields
are let through), so `optimizer` completes inside a user's model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from pydantic.errors import PydanticInvalidForJsonSchema

from noether.config.registry import known_kinds, resolve_kind

if TYPE_CHECKING:
    from noether.config.registry import RegistryBase

DOTTED_KIND_PATTERN = r"^[\w.]+[.:]\w+$"
"""A kind written as a dotted path to a schema class (`pkg.mod:Class` or `pkg.mod.Class`)."""

KIND_DISPATCH = "x-noether-kinds"
"""Marks a kind dispatch with its root's name (`noether.config.editor_schema` gathers each
root's dispatch into one definition)."""

_KIND_DESCRIPTION = "Which implementation to build: a registered short name or a dotted path."


def describe_class(cls: type[RegistryBase], schema: dict[str, Any]) -> None:
    """Completes pydantic's schema of a schema class: field docs, `kind`, rules between fields.

    A concrete kind's `kind` is its short name (a const); a root's `kind` is a dotted path and
    it lets unknown fields through, since it stands for users' own subclasses. A description
    given to a field after its class was built (`inherit_descriptions`) is added here.
    """
    properties = schema.get("properties", {})
    for name, prop in properties.items():
        field = cls.model_fields.get(name)
        description = field.description if field is not None else None
        if isinstance(prop, dict) and "description" not in prop and description:
            prop["description"] = description
    kind = cls.default_kind()
    if "entry_point_group" in cls.__dict__:
        schema.pop("additionalProperties", None)
        properties["kind"] = {
            "type": "string",
            "pattern": DOTTED_KIND_PATTERN,
            "title": "Kind",
            "description": f"Your own {cls.__name__} subclass by dotted path (pkg.mod:Class).",
        }
    elif kind is not None and "kind" in properties:
        properties["kind"] = {
            "const": kind,
            "title": "Kind",
            "description": "Which implementation to build.",
        }
        schema.setdefault("required", [])
        if "kind" not in schema["required"]:
            schema["required"].insert(0, "kind")
    rules = cls.field_rules()
    if rules:
        schema["allOf"] = [rule.json_schema() for rule in rules]


def accept_null(schema: dict[str, Any], names: Collection[str]) -> None:
    """Lets the properties `names` of a class's schema be null as well (validation takes null
    there for their default)."""
    properties = schema.get("properties", {})
    for name in names:
        prop = properties.get(name)
        if not isinstance(prop, dict):
            continue
        if "anyOf" in prop:  # `X | None` already, or a union
            if {"type": "null"} not in prop["anyOf"]:
                prop["anyOf"].append({"type": "null"})
            continue
        outer = {key: prop.pop(key) for key in ("title", "description", "default") if key in prop}
        properties[name] = {**outer, "anyOf": [prop, {"type": "null"}]}


def kind_dispatch(
    root: type[RegistryBase], schema_of: Callable[[type[RegistryBase]], dict[str, Any]]
) -> dict[str, Any]:
    """The schema of a field that takes any kind of `root`; `schema_of(cls)` is the (`$ref`)
    schema of one class."""
    names: list[str] = []
    summaries: list[str] = []
    branches: list[dict[str, Any]] = []
    base = schema_of(root)
    for name in known_kinds(root):
        try:
            cls = resolve_kind(root, name)
        except Exception:  # a broken plug-in must not break the schema of the rest
            continue
        try:
            schema = schema_of(cls)
        except PydanticInvalidForJsonSchema:  # a field without one (a Callable): its root's
            schema = base
        names.append(name)
        summaries.append(_summary(cls))
        branches.append(_when_kind({"const": name}, schema))
    own = f"Your own {root.__name__} subclass by dotted path (pkg.mod:Class)."
    dotted = {"type": "string", "pattern": DOTTED_KIND_PATTERN}
    kinds: list[dict[str, Any]] = [{**dotted, "description": own}]
    if names:  # `enumDescriptions`: what editors show next to each value
        kinds.insert(0, {"enum": names, "enumDescriptions": summaries})
    branches.append(_when_kind(dotted, base))
    # No kind yet (being typed, or in a file with `extends` that keeps its base's kind): the
    # root's fields, which every kind has.
    branches.append({"if": {"not": {"required": ["kind"]}}, "then": base})
    return {
        KIND_DISPATCH: root.__name__,
        "type": "object",
        "properties": {"kind": {"title": "Kind", "description": _KIND_DESCRIPTION, "anyOf": kinds}},
        "required": ["kind"],
        "allOf": branches,
    }


def _when_kind(test: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {"kind": test}, "required": ["kind"]}, "then": then}


def _summary(cls: type) -> str:
    """The first paragraph of a class's docstring, on one line."""
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n")[0].split())
