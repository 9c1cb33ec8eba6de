"""Parts of the errors about kinds: the known kinds (or, with none, where kinds come from), why
a distribution's object is no schema of its group, or what its schema module lacks. Shared by
validation and `noether-config kinds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from noether.config.entry_points import KindEntry


def listed_kinds(kinds: Sequence[str], group: str) -> str:
    """The known kinds of an error message; with none, where kinds come from (validating
    without the package that registers them, e.g. a project not installed in CI, is the
    usual cause)."""
    if kinds:
        return ", ".join(kinds)
    return (
        "none registered (kinds come from installed packages, in the entry-point group "
        f"{group!r}; or write the schema's path, kind: module:Class)"
    )


def missing_dependency_hint(error: BaseException, schema_module: str) -> str:
    """For a schema module that imports a package that is not installed (torch, most often,
    where configs are validated without it): what to do, else ""."""
    missing = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
    own = schema_module.partition(":")[0].split(".")[0]
    if not missing or missing.split(".")[0] == own:
        return ""
    return (
        f"; the schema module (or its package's __init__) imports {missing!r}, which is not "
        "installed here: schemas are imported to validate configs, so import runtime "
        "dependencies only in the module that the schema's `target` names"
    )


def module_not_found_hint(error: BaseException, module_name: str) -> str:
    """For a dotted kind whose own top-level module is found nowhere (`kind: pkg.configs:X`
    with `pkg/` at the project root and the config in `configs/`): where it was looked for and
    the fixes, else ""."""
    import os
    import sys

    from noether.config.loader.local_modules import folders_of_bases, latest_config_folder

    top = module_name.split(".")[0]
    if not isinstance(error, ModuleNotFoundError) or error.name != top:
        return ""
    folder = latest_config_folder()
    for base in folders_of_bases():
        if os.path.isdir(os.path.join(base, top)) or os.path.isfile(
            os.path.join(base, top + ".py")
        ):
            return (
                f"; {top!r} is beside a file that this config extends or includes (in {base}), "
                f"but a config's kinds are imported from its own folder ({folder}) and "
                f"sys.path: set PYTHONPATH={base}, install the package, or move the config "
                "beside it"
            )
    cwd = os.getcwd()
    on_path = any(os.path.abspath(entry or ".") == cwd for entry in sys.path)
    beside = f"beside the config (in {folder}) and " if folder else ""
    holds = "holds" if on_path else "does not hold"
    # with the working directory on sys.path already, only another one helps
    root = "the folder that holds it" if on_path else "the project root with PYTHONPATH=. set"
    return (
        f"; {top!r} was looked for {beside}on sys.path, which {holds} the working directory "
        f"{cwd}: run from {root}, install the package, or put {top!r} beside the config"
    )


def not_a_schema_of(obj: object, root: type) -> str:
    """What `obj` is instead of a schema of `root`, and where it belongs if it is a schema of
    another root: the end of an error about a published name."""
    expected = f"not a {root.__name__} subclass"
    registry_root = getattr(obj, "registry_root", None) if isinstance(obj, type) else None
    if isinstance(obj, type) and callable(registry_root):  # a schema of another root
        try:
            other = registry_root()
        except TypeError:
            return f"{obj.__qualname__}, {expected}"
        return (
            f"a {other.__name__} subclass, {expected}: publish it under the entry-point "
            f"group {other.entry_point_group!r}"
        )
    if isinstance(obj, type):
        return f"the class {obj.__qualname__}, {expected}"
    return f"a {type(obj).__name__}, {expected}"


def elsewhere_hint(group: str, entries: list[KindEntry]) -> str:
    """For an unknown kind that a distribution publishes in another (or a misspelt) group:
    where it is, where noether reads it; else ""."""
    if not entries:
        return ""
    places = ", ".join(
        f"{entry.distribution} publishes it in the entry-point group {entry.group!r}"
        for entry in entries
    )
    return f" ({places}; this key reads {group!r})"
