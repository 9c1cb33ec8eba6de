"""The kind registry: config roots, their auto-registered subclasses and `kind` resolution.

A root (e.g. `CallbackConfig`) names its entry-point group. A `kind` is a short name published
under that group, the short name of an in-process subclass, or a dotted path to a schema class
(`pkg.mod:Class` or `pkg.mod.Class`). Resolution happens at validation time, so kinds added by
packages installed later validate too.

Start-up: this module and the schema modules evaluate annotations eagerly (no
`from __future__ import annotations`), since pydantic would compile and evaluate each string
annotation again for every subclass; schemas that must name themselves quote that annotation.
"""

import sys
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    PydanticUserError,
    model_validator,
)
from pydantic_core import core_schema

from noether.config.bool_numbers import RefusesBoolForNumber
from noether.config.entry_points import (
    DuplicateKindError,
    find_kind,
    group_entries,
    import_dotted,
    published_elsewhere,
    split_dotted_path,
)
from noether.config.kind_messages import (
    elsewhere_hint,
    listed_kinds,
    missing_dependency_hint,
    module_not_found_hint,
    not_a_schema_of,
)
from noether.config.similar_names import closest_first, module_names_hint
from noether.config.startup import field_docstrings
from noether.config.static_lookup import find_module_spec

if TYPE_CHECKING:
    from pydantic.json_schema import JsonSchemaValue

    from noether.config.field_rules import FieldRule

# Distribution to install for a runtime module of the workspace's own packages.
_NOETHER_DISTRIBUTIONS = {
    "noether.core": "noether-core",
    "noether.training": "noether-trainers",
    "noether.callbacks": "noether-callbacks",
    "noether.config": "noether-config",
}


def _installed_version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


class KindError(Exception):
    """A kind that cannot be resolved for its root."""


class RegistryBase(RefusesBoolForNumber):
    """Internal base class for all registry-based configs.

    Provides auto-registration via `__init_subclass__` (pydantic's post-build variant): every
    subclass of a root is recorded under its dotted path and, when its `kind` has a default,
    under that short name. Rules between fields (`field_rules`) are checked here and written
    into the JSON Schema.
    """

    # Field docstrings are field descriptions (pydantic's `use_attribute_docstrings`).
    # defer_build: a schema's validator is built when first used, so a run builds only the
    # kinds it uses.
    model_config = ConfigDict(
        extra="forbid", defer_build=True, use_attribute_docstrings=field_docstrings()
    )

    kind: str
    """Which implementation to build: a registered short name or a dotted path to a schema."""

    target: ClassVar[str] = ""
    """Runtime class that this schema builds, as `module:Class`; imported only to build a run."""

    entry_point_group: ClassVar[str] = ""
    """Set on roots only: the entry-point group that publishes this root's short names."""

    _subclasses_by_kind: ClassVar[dict[str, type["RegistryBase"]]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        inherit_descriptions(cls)
        for rule in cls.field_rules():
            unknown = [name for name in rule.fields if name not in cls.model_fields]
            if unknown:
                raise TypeError(f"{cls.__qualname__}: a field rule names no field {unknown[0]!r}")
        if "entry_point_group" in cls.__dict__:
            cls._subclasses_by_kind = {}
            return
        if cls.__pydantic_generic_metadata__.get("origin") is not None:
            return  # a parametrisation such as BaseTrainerConfig[MyCallbackConfig]
        root = cls.registry_root()
        default_kind = cls.model_fields["kind"].default
        if isinstance(default_kind, str) and default_kind:
            root._subclasses_by_kind[default_kind] = cls

    @classmethod
    def field_rules(cls) -> "tuple[FieldRule, ...]":
        """Rules between fields (`noether.config.field_rules`: exactly one of, at most one of,
        ...), checked on validation and written into the JSON Schema; a subclass that adds rules
        returns its base's rules and its own."""
        return ()

    @model_validator(mode="after")
    def check_field_rules(self) -> "RegistryBase":
        """The first broken rule of `field_rules`, as a validation error."""
        for rule in type(self).field_rules():
            rule.check(self)
        return self

    @classmethod
    def registry_root(cls) -> "type[RegistryBase]":
        """The root whose registry this class belongs to."""
        for klass in cls.__mro__:
            if "entry_point_group" in klass.__dict__:
                return klass
        raise TypeError(f"{cls.__qualname__} derives from no registry root")

    @classmethod
    def default_kind(cls) -> str | None:
        """The short name a concrete schema answers to, if it declares one."""
        value = cls.model_fields["kind"].default
        return value if isinstance(value, str) and value else None

    @classmethod
    def target_distribution(cls) -> str:
        """Distribution that provides `target`, for "pip install ..." hints."""
        module = cls.target.partition(":")[0]
        for prefix, dist in _NOETHER_DISTRIBUTIONS.items():
            if module == prefix or module.startswith(prefix + "."):
                return dist
        return module.split(".")[0].replace("_", "-")

    @classmethod
    def target_installed(cls) -> bool:
        """Whether the target's module can be found, without importing (executing) it."""
        module = cls.target.partition(":")[0]
        return bool(module) and module_findable(module)

    @classmethod
    def load_target(cls) -> Any:
        """Imports the runtime class; a missing package is named in the error."""
        if not cls.target:
            raise KindError(
                f"{cls.__module__}:{cls.__qualname__} names no runtime class to build: give it "
                'target: ClassVar[str] = "package.module:Class"'
            )
        module, _, attribute = cls.target.partition(":")
        if not module_findable(module):
            raise KindError(cls._missing_target(module))
        return import_dotted(module, attribute)

    @classmethod
    def _missing_target(cls, module: str) -> str:
        """Why the target's module is not there: a package to install, or (its package is
        there, e.g. the user's own folder next to the config) a misspelt module."""
        package = module.split(".")[0]
        if package not in (module, "noether") and module_findable(package):
            return (
                f"{cls.__qualname__} is implemented by {cls.target!r}, but the package "
                f"{package!r} has no module {module!r}: is the target misspelt?"
            )
        distribution = cls.target_distribution()
        prefix = next((p for p, d in _NOETHER_DISTRIBUTIONS.items() if d == distribution), None)
        there = prefix is not None and module_findable(prefix)
        installed = _installed_version(distribution) if there else None
        if installed is not None:  # its package is there, in a version without the module
            own = _installed_version("noether-config")
            return (
                f"{cls.__qualname__} is implemented by {cls.target!r}, but the installed "
                f"{distribution} {installed} has no module {module!r}: it is not the version "
                f"made for noether-config {own}; update them together: pip install -U "
                f"noether-config {distribution}"
            )
        return (
            f"{cls.__qualname__} is implemented by {cls.target!r}, which is not installed: "
            f"install the package {cls.target_distribution()!r}"
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> "JsonSchemaValue":
        from noether.config.kind_json_schema import describe_class

        json_schema = handler(schema)
        describe_class(cls, handler.resolve_ref_schema(json_schema))
        return json_schema


def inherit_descriptions(cls: type[BaseModel]) -> None:
    """A field redeclared without a docstring (`kind: str = "adamw"`) keeps its base's
    description: pydantic gives a redeclared field only its own docstring."""
    for name, info in cls.model_fields.items():
        if info.description is not None:
            continue
        for base in cls.__mro__[1:]:
            if not issubclass(base, BaseModel) or base is BaseModel:
                continue
            inherited = base.model_fields.get(name)
            if inherited is not None and inherited.description is not None:
                info.description = inherited.description
                break


def module_findable(module: str) -> bool:
    """Whether a module can be found, executing no package `__init__` (`find_module_spec`:
    the top-level package through every finder, a setuptools editable install's included)."""
    return module in sys.modules or find_module_spec(module) is not None


def forget_kinds_defined_in(modules: Collection[str]) -> None:
    """Drops the in-process short kinds of schema classes defined in `modules`, which were
    unloaded (`noether.config.loader.local_modules`): another folder's configs must not find
    them."""
    stack: list[type[RegistryBase]] = [RegistryBase]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        kinds = cls.__dict__.get("_subclasses_by_kind", {})  # set on the roots only
        for kind, sub in list(kinds.items()):
            if sub.__module__ in modules:
                del kinds[kind]


def known_kinds(root: type[RegistryBase]) -> list[str]:
    """Short names available for a root: published ones and in-process subclasses."""
    names = set(root._subclasses_by_kind)
    names |= {entry.name for entry in group_entries(root.entry_point_group)}
    return sorted(names)


def resolve_kind(root: type[RegistryBase], kind: str) -> type[RegistryBase]:
    """Finds the schema class for `kind` under `root`.

    Raises:
        KindError: unknown kind (with the known kinds, closest first), a duplicate short name,
            or a dotted path that does not name a subclass of the root.
    """
    origin = ""
    if ":" in kind or "." in kind:
        cls = _import_schema(kind)
    else:
        try:
            entry = find_kind(root.entry_point_group, kind)
        except DuplicateKindError as error:
            raise KindError(str(error)) from None
        if entry is not None:
            try:
                cls = entry.load()
            except Exception as error:  # a broken plug-in: name it instead of crashing
                raise KindError(
                    f"kind {kind!r} of {entry.distribution} ({entry.value}) cannot be imported: "
                    f"{type(error).__name__}: {error}{missing_dependency_hint(error, entry.value)}"
                ) from None
            if not (isinstance(cls, type) and issubclass(cls, root)):
                raise KindError(
                    f"kind {kind!r} of {entry.distribution} ({entry.value}) is "
                    f"{not_a_schema_of(cls, root)}"
                )
            origin = f"of {entry.distribution} ({entry.value})"
        elif kind in root._subclasses_by_kind:
            cls = root._subclasses_by_kind[kind]
        else:
            known = closest_first(kind, known_kinds(root))
            raise KindError(
                f"unknown {root.__name__} kind {kind!r}; known kinds: "
                + listed_kinds(known, root.entry_point_group)
                + elsewhere_hint(
                    root.entry_point_group, published_elsewhere(root.entry_point_group, kind)
                )
            )
    if not (isinstance(cls, type) and issubclass(cls, root)):
        raise KindError(f"kind {kind!r} does not name a {root.__name__} subclass")
    problem = schema_problem(cls)
    if problem is not None:
        where = origin or f"({cls.__module__}:{cls.__qualname__})"
        raise KindError(f"kind {kind!r} {where}: {problem}")
    return cls


def schema_problem(cls: type[BaseModel]) -> str | None:
    """Why pydantic cannot build a schema class (a field type it cannot validate, an
    annotation it cannot resolve), or None: found at the class's `kind` and named, rather
    than at its first validation (deferred), where it would be an error of the whole file."""
    try:
        cls.model_rebuild()
    except PydanticUserError as error:
        return f"its schema cannot be built: {str(error).splitlines()[0]}"
    return None


def _import_schema(path: str) -> Any:
    try:
        module_name, attribute = split_dotted_path(path)
    except ValueError:
        raise KindError(f"{path!r} is not a dotted path to a class (pkg.mod:Class)") from None
    try:
        return import_dotted(module_name, attribute)
    except ImportError as error:
        hint = missing_dependency_hint(error, module_name) or module_not_found_hint(
            error, module_name
        )
        raise KindError(f"cannot import {path!r}: {error}{hint}") from None
    except AttributeError:
        module = sys.modules.get(module_name)
        hint = module_names_hint(attribute.split(".")[0], vars(module) if module else ())
        raise KindError(f"module {module_name!r} has no attribute {attribute!r}{hint}") from None
    except Exception as error:  # the user's module raised while importing
        raise KindError(f"importing {path!r} failed: {type(error).__name__}: {error}") from None
