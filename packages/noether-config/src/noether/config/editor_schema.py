"""The JSON Schema of experiment files for editors and check-jsonschema.

pydantic writes the schema of the classes (every kind dispatched on `kind`, the rules between
fields); what the loader does before validation is added here:

- `${...}` references and `!include` files may stand for any value. A schema cannot know what
  they become, so wherever a value goes, a string with a reference or a YAML file name is let
  through (an editor that knows the `!include` tag hands its file name to the schema).
- A file with `extends:` is an overlay on its bases: its mappings merge into theirs key by key,
  so any key of a mapping may be missing, rules between fields cannot be judged, and a kind may
  come from a base; null in place of a mapping removes the base's. Lists replace the base's
  list whole, so list items are checked in full.
  Without `extends`, the file is checked in full.
"""

from __future__ import annotations

import copy
from typing import Any

from noether.config.kind_json_schema import KIND_DISPATCH
from noether.config.loader import VARS_KEY
from noether.config.loader.compose import EXTENDS_KEY

SUBSTITUTED = "Substituted"
"""Name of the definition that matches a `${...}` reference or an `!include` file name."""

_SUBSTITUTED_PATTERN = r"\$\{[^{}]*\}|\.[yY][aA]?[mM][lL]\s*$"
_SUBSTITUTED_SCHEMA = {
    "type": "string",
    "pattern": _SUBSTITUTED_PATTERN,
    "description": (
        "A `${...}` reference or an `!include`d YAML file: checked by `noether-config validate` "
        "once resolved."
    ),
}
_SUBSTITUTED_REF = {"$ref": f"#/$defs/{SUBSTITUTED}"}
_SUBSTITUTED_CONDITION = {"type": "string", "pattern": _SUBSTITUTED_PATTERN}
"""The `if` of a mapping or list position: Substituted without its description. The YAML
language server shows the first description among the schemas it tried on a value, `if`
included, so a `$ref` to Substituted there put its text over every mapping's own docs."""
_NULL_OR_SUBSTITUTED_CONDITION = {"type": ["string", "null"], "pattern": _SUBSTITUTED_PATTERN}
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")
_OVERLAY_SUFFIX = "Overlay"
KIND = "kind"

_EXTENDS_SCHEMA = {
    "title": "Extends",
    "description": "Base file(s) merged under this one (paths relative to this file).",
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
}
_VARS_SCHEMA = {
    "title": "Vars",
    "description": "Values for `${vars.name}` references; removed before validation.",
    "type": "object",
}


def _substitutable(schema: Any) -> Any:
    """The schema of a value position, also accepting a reference or an include.

    Mappings and lists take them through `if`/`else`, so that validators report an error inside
    one at its own key; scalars through `anyOf`, since editors offer values (enums, booleans)
    from `anyOf` branches and not from `else`.
    """
    if not isinstance(schema, dict):
        return schema
    schema = _inside_substitutable(schema)
    outer = {key: schema.pop(key) for key in _ANNOTATIONS if key in schema}
    if not schema:  # only annotations: any value is allowed already
        return outer
    if _is_container(schema):
        members = schema.get("anyOf", [schema])
        if {"type": "null"} not in members:
            return {**outer, "if": dict(_SUBSTITUTED_CONDITION), "else": schema}
        rest = [member for member in members if member != {"type": "null"}]
        return {
            **outer,
            "if": copy.deepcopy(_NULL_OR_SUBSTITUTED_CONDITION),
            "else": rest[0] if len(rest) == 1 else {"anyOf": rest},
        }
    if "anyOf" in schema and len(schema) == 1:
        return {**outer, "anyOf": [*schema["anyOf"], _SUBSTITUTED_REF]}
    return {**outer, "anyOf": [schema, _SUBSTITUTED_REF]}


def _is_container(schema: dict[str, Any]) -> bool:
    """Whether a schema takes mappings or lists only (null aside): a `$ref` (a class or a kind
    dispatch), an object or an array."""
    if "anyOf" in schema:
        members = [m for m in schema["anyOf"] if m != {"type": "null"}]
        return bool(members) and all(_is_container(m) for m in members)
    return "$ref" in schema or schema.get("type") in ("object", "array")


def _is_mapping(schema: dict[str, Any]) -> bool:
    """Whether a container schema takes mappings (a class, a kind dispatch, an object)."""
    if "anyOf" in schema:
        return any(_is_mapping(member) for member in schema["anyOf"])
    return "$ref" in schema or schema.get("type") == "object"


def _inside_substitutable(schema: dict[str, Any]) -> dict[str, Any]:
    """Makes the value positions below `schema` substitutable. Conditions (`allOf`, `if`, `not`:
    rules and the kind dispatch) are left as they are: they test what is written. `kind` is
    left too: a class's `kind` is only checked once the dispatch chose it by that value."""
    for name, value in schema.get("properties", {}).items():
        if name != KIND:
            schema["properties"][name] = _substitutable(value)
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _substitutable(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        schema["items"] = _substitutable(schema["items"])
    if "prefixItems" in schema:
        schema["prefixItems"] = [_substitutable(item) for item in schema["prefixItems"]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            schema[key] = [_inside_substitutable(member) for member in schema[key]]
    return schema


def _gather_dispatches(node: Any, definitions: dict[str, Any]) -> Any:
    """Replaces every kind dispatch below `node` by a `$ref` to one definition per root
    (`<Root>Kinds`); the field's annotations stay where it is used."""
    if isinstance(node, list):
        return [_gather_dispatches(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _gather_dispatches(value, definitions) for key, value in node.items()}
    root = node.pop(KIND_DISPATCH, None)
    if root is None:
        return node
    name = f"{root}Kinds"
    outer = {key: node.pop(key) for key in _ANNOTATIONS if key in node}
    node["properties"][KIND]["anyOf"].append(_SUBSTITUTED_REF)  # no kind's schema applies then
    definitions.setdefault(name, node)
    return {**outer, "$ref": f"#/$defs/{name}"}


class _Overlay:
    """Builds the overlay (partial) twin of definitions, for files with `extends:`."""

    def __init__(self, definitions: dict[str, Any], dispatches: set[str]) -> None:
        self.definitions = definitions
        self.strict = dict(definitions)
        self.dispatches = dispatches

    def definition(self, name: str) -> str:
        """The name of the overlay twin of definition `name`, built on first use."""
        twin = f"{name}{_OVERLAY_SUFFIX}"
        if twin not in self.definitions:
            self.definitions[twin] = {}  # placeholder: definitions may refer to themselves
            strict = self.strict[name]
            if name not in self.dispatches:  # a class: its rules need the merged file
                strict = {key: value for key, value in strict.items() if key != "allOf"}
            self.definitions[twin] = self.value(strict)
        return twin

    def value(self, schema: Any) -> Any:
        """A schema where mappings may lack keys; lists and conditions stay as they are."""
        if not isinstance(schema, dict):
            return schema
        out = {key: value for key, value in schema.items() if key != "required"}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in self.strict and name != SUBSTITUTED:
                out["$ref"] = f"#/$defs/{self.definition(name)}"
        if "properties" in out:
            out["properties"] = {k: self.value(v) for k, v in out["properties"].items()}
        if isinstance(out.get("additionalProperties"), dict):
            out["additionalProperties"] = self.value(out["additionalProperties"])
        if "else" in out:  # a mapping or list that may be substituted
            out["else"] = self.value(out["else"])
            if _is_mapping(out["else"]):  # null removes the base's (`deep_merge`)
                out["if"] = copy.deepcopy(_NULL_OR_SUBSTITUTED_CONDITION)
        for key in ("anyOf", "oneOf"):
            if key in out:
                out["anyOf" if key == "oneOf" else key] = [self.value(m) for m in out.pop(key)]
        if "allOf" in out:  # a kind dispatch: the kind's schema applies as an overlay too
            out["allOf"] = [
                {**member, "then": self.value(member["then"])} if "then" in member else member
                for member in out["allOf"]
            ]
        return out


def editor_schema(schema: dict[str, Any], *, experiment: bool) -> dict[str, Any]:
    """The JSON Schema for editors made of pydantic's `schema` of a model or a kind root.

    For the experiment (`experiment=True`) the top level takes `extends` and `vars`, and a
    file with `extends` is checked as an overlay.
    """
    definitions: dict[str, Any] = {}
    classes = _gather_dispatches(schema.get("$defs", {}), definitions)
    schema = _gather_dispatches({k: v for k, v in schema.items() if k != "$defs"}, definitions)
    dispatches = set(definitions)
    definitions.update(classes)
    if experiment:  # loader keys, which may be included too
        loader_keys = {EXTENDS_KEY: _EXTENDS_SCHEMA, VARS_KEY: _VARS_SCHEMA}
        schema["properties"].update(copy.deepcopy(loader_keys))
    for name, definition in definitions.items():
        definitions[name] = _inside_substitutable(definition)
    schema = _inside_substitutable(schema)
    definitions[SUBSTITUTED] = dict(_SUBSTITUTED_SCHEMA)
    if experiment:
        name = str(schema.get("title", "ExperimentConfig"))
        definitions[name] = schema
        overlay = _Overlay(definitions, dispatches).definition(name)
        schema = {
            "title": name,
            "description": schema.get("description", ""),
            "if": {"required": [EXTENDS_KEY]},
            "then": {"$ref": f"#/$defs/{overlay}"},
            "else": {"$ref": f"#/$defs/{name}"},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "$defs": dict(sorted(definitions.items())),
    }
