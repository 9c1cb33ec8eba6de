"""Booleans where numbers belong.

pydantic's lax mode reads `max_epochs: yes` (YAML's true) as 1, while editors and the JSON
schema refuse it; the configs refuse it too, at its key.
"""

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

_UNIONS = (typing.Union, types.UnionType)


def number_without_bool(annotation: Any) -> bool:
    """Whether a field's type takes an int or a float and not a bool (`int`, `float | None`)."""
    members = typing.get_args(annotation) if typing.get_origin(annotation) in _UNIONS else ()
    kinds = set(members or (annotation,))
    return bool(kinds & {int, float}) and bool not in kinds


class RefusesBoolForNumber(BaseModel):
    """Base of the config schemas: a boolean given to a number field is a validation error."""

    model_config = ConfigDict(defer_build=True)  # a base only: never validated itself

    @field_validator("*", mode="before")
    @classmethod
    def refuse_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and number_without_bool(field.annotation):
                raise ValueError(
                    f"a boolean ({str(value).lower()}) where a number belongs (YAML reads "
                    "yes/no and on/off as booleans)"
                )
        return value
