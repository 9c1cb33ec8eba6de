"""`noether-config schema` and `noether-config kinds`: what can be written in an experiment file.

Schema modules are torch-free and may be imported; runtime implementations never are.
"""

from __future__ import annotations

import json
from typing import Any

from noether.config.entry_points import (
    ENTRY_POINT_GROUPS,
    KindEntry,
    group_entries,
    unread_noether_groups,
)
from noether.config.losses import (
    BUILTIN_LOSSES,
    BUILTIN_LOSSES_DISTRIBUTION,
    LOSS_ENTRY_POINT_GROUP,
)
from noether.config.similar_names import closest_first

DUPLICATE_NAME = "duplicate short name: registered by more than one distribution"


class CatalogUsageError(Exception):
    """An unknown root or group name."""


def _roots() -> dict[str, Any]:
    from noether.config import schemas

    return {
        "trainers": schemas.BaseTrainerConfig,
        "callbacks": schemas.CallbackConfig,
        "optimizers": schemas.OptimizerConfig,
        "schedules": schemas.ScheduleConfig,
        "models": schemas.ModelConfig,
        "datasets": schemas.DatasetConfig,
        "trackers": schemas.TrackerConfig,
        "initializers": schemas.InitializerConfig,
    }


def _group_name(name: str, *, schema: bool = False) -> str:
    """`callbacks`, `callback`, `noether.callbacks` or `CallbackConfig` -> `callbacks`.

    The error lists what the command takes: `schema` also `experiment` but not `losses`
    (callables, no schemas), `kinds` every entry-point group."""
    lowered = name.strip().lower()
    lowered = lowered.removeprefix("noether.")
    for group in ENTRY_POINT_GROUPS:
        singular = group[:-1]
        if lowered in (group, singular, f"{singular}config", f"base{singular}config"):
            return group
    if schema:
        choices = ["experiment", *(group for group in ENTRY_POINT_GROUPS if group != "losses")]
    else:
        choices = list(ENTRY_POINT_GROUPS)
    raise CatalogUsageError(f"unknown root {name!r}; choose one of: " + ", ".join(choices))


def _is_experiment(root: str) -> bool:
    return root.strip().lower() in ("experiment", "experimentconfig")


def json_schema(root: str | None) -> dict[str, Any]:
    """JSON Schema of the experiment file, or of one root's kinds (dispatched on `kind`), for
    editors and check-jsonschema (see `noether.config.editor_schema`)."""
    from typing import Annotated

    from pydantic import TypeAdapter

    from noether.config.discriminated import Discriminated
    from noether.config.editor_schema import editor_schema
    from noether.config.schemas import ExperimentConfig

    if root is None or _is_experiment(root):
        return editor_schema(ExperimentConfig.model_json_schema(), experiment=True)
    group = _group_name(root, schema=True)
    if group == "losses":
        raise CatalogUsageError("losses are callables, not schemas; see `noether-config kinds`")
    cls = _roots()[group]
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[cls, Discriminated(cls)])  # type: ignore[arg-type]
    schema = adapter.json_schema()
    schema["title"] = cls.__name__
    return editor_schema(schema, experiment=False)


def schema_groups(root: str | None) -> list[str]:
    """The kind groups that the schema of `root` (as `json_schema` takes it) enumerates."""
    if root is None or _is_experiment(root):
        return [group for group in ENTRY_POINT_GROUPS if group != "losses"]
    return [_group_name(root, schema=True)]


def _describe(entry: KindEntry) -> dict[str, Any]:
    from noether.config.kind_messages import not_a_schema_of
    from noether.config.registry import RegistryBase, module_findable, schema_problem

    row: dict[str, Any] = {
        "group": entry.group,
        "kind": entry.name,
        "distribution": entry.distribution,
        "schema": entry.value,
    }
    if entry.group == "noether.losses":
        from noether.config.static_lookup import missing_name

        module = entry.value.partition(":")[0]
        row.update(target=entry.value, installed=module_findable(module))
        problem = missing_name(entry.value) if row["installed"] else None
        if problem is not None:
            row.update(installed=False, error=problem)
        return row
    try:
        cls = entry.load()
    except Exception as error:  # a broken plug-in is reported, not fatal
        row.update(target=None, installed=False, error=f"{type(error).__name__}: {error}")
        return row
    root: type[RegistryBase] = _roots()[_group_name(entry.group)]
    if isinstance(cls, type) and issubclass(cls, root):
        row.update(target=cls.target or None, installed=cls.target_installed())
        if cls.target:
            row["provided_by"] = cls.target_distribution()
        else:
            row["error"] = "names no runtime class: give the schema a `target` (module:Class)"
        problem = schema_problem(cls)
        if problem is not None:
            row["error"] = problem
    else:
        row.update(target=None, installed=False, error=not_a_schema_of(cls, root))
    return row


def kinds(group: str | None) -> list[dict[str, Any]]:
    """Every registered kind (of one group), with distribution, target and install state."""
    groups = [_group_name(group)] if group else list(ENTRY_POINT_GROUPS)
    rows: list[dict[str, Any]] = []
    for short in groups:
        entries = group_entries(ENTRY_POINT_GROUPS[short])
        names = [entry.name for entry in entries]
        for entry in entries:
            row = _describe(entry)
            if names.count(entry.name) > 1:
                row["error"] = DUPLICATE_NAME
            rows.append(row)
        if ENTRY_POINT_GROUPS[short] == LOSS_ENTRY_POINT_GROUP:
            rows.extend(_unpublished_builtin_losses(entries, rows))
    if group is None:
        rows.extend(_unread_group_rows())
    return rows


def _unread_group_rows() -> list[dict[str, Any]]:
    """Kinds published in a `noether.*` group that noether does not read, with the groups it
    reads closest first (a misspelt group is no error of any config until one names it)."""
    rows = []
    for group in unread_noether_groups():
        closest = closest_first(group, list(ENTRY_POINT_GROUPS.values()), limit=1)
        for entry in group_entries(group):
            rows.append(
                {
                    "group": group,
                    "kind": entry.name,
                    "distribution": entry.distribution,
                    "schema": entry.value,
                    "target": None,
                    "installed": False,
                    "error": f"noether reads no kinds from the group {group!r} (did you mean "
                    f"{closest[0]!r}?)",
                }
            )
    return rows


def _unpublished_builtin_losses(
    entries: tuple[KindEntry, ...], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The built-in losses that `validate` knows where noether-trainers, which publishes
    them, is not installed (noether-config alone, in CI); a name that another distribution
    publishes is marked a duplicate in both rows, as where noether-trainers is installed."""
    ours = {entry.name for entry in entries if entry.distribution == BUILTIN_LOSSES_DISTRIBUTION}
    added = []
    for name in sorted(BUILTIN_LOSSES):
        if name in ours:
            continue
        row: dict[str, Any] = {
            "group": LOSS_ENTRY_POINT_GROUP,
            "kind": name,
            "distribution": BUILTIN_LOSSES_DISTRIBUTION,
            "schema": None,
            "target": None,
            "installed": False,
        }
        for other in rows:
            if other["group"] == LOSS_ENTRY_POINT_GROUP and other["kind"] == name:
                other["error"] = row["error"] = DUPLICATE_NAME
        added.append(row)
    return added


def render_kinds(rows: list[dict[str, Any]], output: str) -> str:
    """A table (text) or a JSON list."""
    if output == "json":
        return json.dumps(rows, indent=2)
    lines: list[str] = []
    group = None
    for row in rows:
        if row["group"] != group:
            group = row["group"]
            lines.append(f"{group}:")
        state = "installed" if row["installed"] else "NOT installed"
        target = row.get("target") or "-"
        line = f"  {row['kind']:<28} {row['distribution']:<20} {state:<14} {target}"
        if not row["installed"] and row.get("provided_by") not in (None, row["distribution"]):
            line += f"  (install {row['provided_by']})"
        if "error" in row:
            line += f"  [error: {row['error']}]"
        lines.append(line)
    return "\n".join(lines) if lines else "no kinds registered"


def registration_problems(rows: list[dict[str, Any]]) -> str | None:
    """One line on the rows that carry an error, for stderr: a config that names such a kind
    fails, and an editor's schema may lack it."""
    broken = [f"{row['kind']} ({row['group']})" for row in rows if "error" in row]
    if not broken:
        return None
    return f"{len(broken)} kind(s) cannot be used, see `noether-config kinds`: " + ", ".join(broken)
