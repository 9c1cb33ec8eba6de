"""The keys a schema allows at a place of a config, for "did you mean" on an unknown key.

pydantic reports an unknown key (`every_n_epoch`) without the schema it was checked against;
this walks the experiment schema along the key's path, resolving each `kind` as validation
does, and offers the closest allowed keys there.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from noether.config.discriminated import Discriminated
from noether.config.loader.nodes import PathKey, child
from noether.config.registry import KindError, resolve_kind
from noether.config.similar_names import closest_first


def _schema(annotation: Any, metadata: Sequence[Any], node: Any) -> Any:
    """The annotation with Annotated, Optional and a `Discriminated` kind resolved for `node`."""
    for marker in metadata:
        if isinstance(marker, Discriminated):
            kind = node.get("kind") if isinstance(node, dict) else None
            kind = kind if isinstance(kind, str) else marker.root.default_kind()
            if kind is None:
                return None
            try:
                return resolve_kind(marker.root, kind)
            except KindError:
                return None
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *more = typing.get_args(annotation)
        return _schema(inner, more, node)
    if origin in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
        return _schema(arms[0], (), node) if len(arms) == 1 else None
    return annotation


def _step(
    annotation: Any, metadata: Sequence[Any], node: Any, key: PathKey
) -> tuple[Any, Sequence[Any]] | None:
    """(annotation, metadata) of the value at `key` below a value of this annotation."""
    schema = _schema(annotation, metadata, node)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        field = schema.model_fields.get(str(key))
        return None if field is None else (field.annotation, field.metadata)
    origin, args = typing.get_origin(schema), typing.get_args(schema)
    if origin is list and args:
        return args[0], ()
    if origin is dict and len(args) == 2:
        return args[1], ()
    return None


def allowed_keys(root: type[BaseModel], tree: Any, path: Sequence[PathKey]) -> list[str] | None:
    """The keys that the schema at `path` (a mapping of the config) allows, or None where it
    cannot be told (an unknown kind, a union of schemas)."""
    annotation: Any = root
    metadata: Sequence[Any] = ()
    node = tree
    for key in path:
        found = _step(annotation, metadata, node, key)
        if found is None:
            return None
        annotation, metadata = found
        _, node = child(node, key)
    schema = _schema(annotation, metadata, node)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return list(schema.model_fields)
    return None


def did_you_mean(root: type[BaseModel], tree: Any, path: Sequence[PathKey]) -> str:
    """`; did you mean 'every_n_epochs'?` for the unknown key at `path`, or ""."""
    if not path:
        return ""
    allowed = allowed_keys(root, tree, path[:-1])
    if not allowed:
        return ""
    close = closest_first(str(path[-1]), allowed, cutoff=0.6, limit=1)
    return f"; did you mean {close[0]!r}?" if close else ""
