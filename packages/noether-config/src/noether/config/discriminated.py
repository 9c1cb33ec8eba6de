"""`Discriminated`: the field marker that validates a mapping as the schema its `kind` names.

A field annotated `Annotated[CallbackConfig, Discriminated(CallbackConfig)]` accepts any kind
of the root that the registry (`noether.config.registry`) resolves; a narrower annotation
accepts only the kinds it names.
"""

import functools
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, ValidationError, core_schema

from noether.config.errors import type_with_article
from noether.config.kind_messages import listed_kinds
from noether.config.registry import KindError, RegistryBase, known_kinds, resolve_kind
from noether.config.similar_names import closest_first

if TYPE_CHECKING:
    from pydantic.json_schema import JsonSchemaValue


def narrowed_classes(
    annotation: Any, root: type[RegistryBase]
) -> tuple[type[RegistryBase], ...] | None:
    """The schema classes an annotation allows under `root` (a subclass or a union of them);
    None when it allows every kind of the root (the root itself, a type variable, Any)."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
    else:
        members = (annotation,)
    classes: list[type[RegistryBase]] = []
    for member in members:
        if typing.get_origin(member) is Annotated:
            member = typing.get_args(member)[0]
        if not (isinstance(member, type) and issubclass(member, root)) or member is root:
            return None
        classes.append(member)
    return tuple(classes)


def _describe(cls: type[RegistryBase]) -> str:
    kind = cls.default_kind()
    where = f"{cls.__module__}:{cls.__qualname__}"
    return f"{kind} ({where})" if kind else where


class Discriminated:
    """Field marker that resolves `kind` at validation time.

    Use as `Annotated[CallbackConfig, Discriminated(CallbackConfig)]`. The annotated type narrows
    the kinds a field accepts: `Annotated[MyCallbackConfig | OtherConfig, Discriminated(
    CallbackConfig)]` (what `BaseTrainerConfig[MyCallbackConfig | OtherConfig]` makes of its
    `callbacks`) refuses any other kind with a message naming the allowed ones.
    """

    def __init__(self, root: type[RegistryBase]) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"Discriminated({self.root.__name__})"

    def validate(
        self, value: Any, allowed: tuple[type[RegistryBase], ...] | None = None
    ) -> RegistryBase:
        """The schema instance for `value`: resolved by its `kind`, one of `allowed` if given.

        A kind that is not allowed is refused before its fields are validated, so the report
        names that, not errors of fields that a schema of another kind would not have.
        """
        cls = type(value) if isinstance(value, self.root) else self._resolve(value)
        if allowed is not None and not issubclass(cls, allowed):
            kind = value.kind if isinstance(value, self.root) else value["kind"]
            raise self._kind_error(
                "kind_not_allowed",
                "{root} kind '{kind}' ({cls}) is not accepted here; allowed: {allowed}",
                {
                    "root": self.root.__name__,
                    "kind": kind,
                    "cls": cls.__qualname__,
                    "allowed": ", ".join(_describe(cls) for cls in allowed),
                },
                kind,
            )
        return value if isinstance(value, self.root) else cls.model_validate(value)

    def _kind_error(
        self, error_type: str, template: str, context: dict[str, Any], given: Any
    ) -> ValidationError:
        """An error located at the `kind` key (a file's `kind:` line), not at its mapping."""
        return ValidationError.from_exception_data(
            self.root.__name__,
            [
                {
                    "type": PydanticCustomError(error_type, template, context),
                    "loc": ("kind",),
                    "input": given,
                }
            ],
        )

    def _kind_string_hint(self, value: str) -> str:
        """A string where a mapping belongs is most often the kind alone (`schedule: cosine`):
        the string, how to write it, and which kinds come closest."""
        known = known_kinds(self.root)
        if value in known:
            return f"{value!r} (write {{kind: {value}}})"
        closest = listed_kinds(closest_first(value, known), self.root.entry_point_group)
        return f"{value!r} (write {{kind: ...}}; known kinds: {closest})"

    def _resolve(self, value: Any) -> type[RegistryBase]:
        """The schema class that the mapping's `kind` names."""
        if isinstance(value, str):
            raise PydanticCustomError(
                "kind_string",
                "expected a mapping with a `kind` key for {root}, got the string {given}",
                {"root": self.root.__name__, "given": self._kind_string_hint(value)},
            )
        if not isinstance(value, Mapping):
            raise PydanticCustomError(
                "kind_mapping",
                "expected a mapping with a `kind` key for {root}, got {got}",
                {"root": self.root.__name__, "got": type(value).__name__},
            )
        kind = value.get("kind")
        if not isinstance(kind, str) or not kind:
            known = listed_kinds(known_kinds(self.root), self.root.entry_point_group)
            if kind is None or kind == "":
                raise self._kind_error(
                    "missing_kind",
                    "missing `kind` for {root}; known kinds: {known}",
                    {"root": self.root.__name__, "known": known},
                    value if kind is None else kind,
                )
            raise self._kind_error(
                "kind_type",
                "`kind` is a name, not {got}; known kinds for {root}: {known}",
                {"root": self.root.__name__, "known": known, "got": type_with_article(kind)},
                kind,
            )
        try:
            cls = resolve_kind(self.root, kind)
        except KindError as error:
            raise self._kind_error(
                "unknown_kind", "{message}", {"message": str(error)}, kind
            ) from None
        return cls

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        allowed = narrowed_classes(source, self.root)
        return core_schema.no_info_plain_validator_function(
            self.validate if allowed is None else functools.partial(self.validate, allowed=allowed),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _dump_model, when_used="always"
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> "JsonSchemaValue":
        from noether.config.kind_json_schema import kind_dispatch

        # `handler(...)` would inline each schema without its own hooks (no `kind` const); the
        # generator's `generate_inner` emits a `$ref` into `$defs` and runs them.
        generator = getattr(handler, "generate_json_schema", None)
        generate = generator.generate_inner if generator is not None else handler
        return kind_dispatch(self.root, lambda cls: generate(cls.__pydantic_core_schema__))


def _dump_model(model: BaseModel) -> Any:
    return model.model_dump(mode="json", exclude_unset=False)
