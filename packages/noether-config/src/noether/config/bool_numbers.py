"""Booleans where numbers belong.

pydantic's lax mode reads `max_epochs: yes` (YAML's true) as 1, and `field_weights: {p: yes}`
as a weight of 1.0, while editors and the JSON schema refuse both; the configs refuse them
too, at their key.
"""

import itertools
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

_UNIONS = (typing.Union, types.UnionType)
_SEQUENCES = (list, tuple, Sequence)


def number_without_bool(annotation: Any) -> bool:
    """Whether a field's type takes an int or a float and not a bool (`int`, `float | None`)."""
    members = typing.get_args(annotation) if typing.get_origin(annotation) in _UNIONS else ()
    kinds = set(members or (annotation,))
    return bool(kinds & {int, float}) and bool not in kinds


def misplaced_bool(annotation: Any, value: Any) -> tuple[str | int, ...] | None:
    """Where in `value` a boolean stands for a number that `annotation` asks for: () for
    `value` itself, else the keys and indexes down to it (`("p",)` in `{p: yes}` of a
    `dict[str, float]`); None where no boolean does."""
    if isinstance(value, bool):
        return () if number_without_bool(annotation) else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return misplaced_bool(args[0], value)
    if origin in _UNIONS:
        found = (misplaced_bool(member, value) for member in args)
        return next((where for where in found if where is not None), None)
    items: Iterable[tuple[str | int, Any]]
    item_types: Iterator[Any]
    if isinstance(value, dict) and origin in (dict, Mapping) and len(args) == 2:
        items, item_types = value.items(), itertools.repeat(args[1])
    elif isinstance(value, list | tuple) and origin in _SEQUENCES and args:
        fixed = origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)
        items, item_types = enumerate(value), iter(args) if fixed else itertools.repeat(args[0])
    else:
        return None
    # a tuple of the wrong length is pydantic's own error
    for (key, item), item_type in zip(items, item_types, strict=False):
        where = misplaced_bool(item_type, item)
        if where is not None:
            return (key, *where)
    return None


class RefusesBoolForNumber(BaseModel):
    """Base of the config schemas: a boolean given to a number field, or inside a container
    of numbers, is a validation error at its key."""

    model_config = ConfigDict(defer_build=True)  # a base only: never validated itself

    @field_validator("*", mode="before")
    @classmethod
    def refuse_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, bool | dict | list | tuple) or info.field_name is None:
            return value
        field = cls.model_fields.get(info.field_name)
        where = None if field is None else misplaced_bool(field.annotation, value)
        if where is None:
            return value
        given: Any = value
        for key in where:
            given = given[key]
        error = PydanticCustomError(
            "bool_for_number",
            "a boolean ({given}) where a number belongs (YAML reads yes/no and on/off as booleans)",
            {"given": str(given).lower()},
        )
        # located at the key or index inside the field (a line of its own in a block mapping)
        raise ValidationError.from_exception_data(
            cls.__name__, [{"type": error, "loc": where, "input": given}]
        )
