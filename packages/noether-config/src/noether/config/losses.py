"""Loss names that a `loss_fn` may give, and the message for one that is not known.

The `noether.losses` entry points are the source of truth: noether-trainers publishes its
built-in losses there, other distributions add theirs. BUILTIN_LOSSES repeats the names that
noether-trainers publishes so that configs validate where only noether-config is installed; a
test of noether-trainers checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from noether.config.entry_points import DuplicateKindError, find_kind, group_entries

LOSS_ENTRY_POINT_GROUP = "noether.losses"

TOTAL_KEY = "total"
"""Name of the weighted total among the losses that the weighted-loss trainer logs."""
TARGET_SUFFIX = "_target"
"""The batch key of a weighted field's ground truth is `<field>_target`."""
UNWEIGHTED_SUFFIX = "_unweighted"
"""A field's unweighted loss is logged as `<field>_unweighted` (its name holds the weighted)."""

BUILTIN_LOSSES = ("mse", "l1", "smooth_l1", "huber", "rel_l2")
"""Names of the losses that noether-trainers publishes under `noether.losses`."""
BUILTIN_LOSSES_DISTRIBUTION = "noether-trainers"
BUILTIN_LOSSES_MODULE = "noether.training.trainers.losses"
"""Where noether-trainers defines its built-in losses (their import path)."""


def known_losses() -> list[str]:
    """Built-in loss names and those registered under `noether.losses`, sorted.

    A name that two distributions publish is listed too: it is an error of the configs that
    use it (`duplicate_loss_message`), not of those that use another name.
    """
    published = {entry.name for entry in group_entries(LOSS_ENTRY_POINT_GROUP)}
    return sorted(set(BUILTIN_LOSSES) | published)


def duplicate_loss_message(name: str) -> str | None:
    """Why `name` is ambiguous (two distributions publish it, both named), or None.

    A built-in name that another distribution publishes is ambiguous also where
    noether-trainers is not installed (`validate` in CI): the training environment, which
    has it, refuses the name.
    """
    try:
        entry = find_kind(LOSS_ENTRY_POINT_GROUP, name)
    except DuplicateKindError as error:
        return str(error)
    if entry is None or name not in BUILTIN_LOSSES:
        return None
    if entry.distribution == BUILTIN_LOSSES_DISTRIBUTION:
        return None
    return (
        f"loss {name!r} is a built-in loss of {BUILTIN_LOSSES_DISTRIBUTION}, and "
        f"{entry.distribution} publishes it too ({entry.value}, entry-point group "
        f"{LOSS_ENTRY_POINT_GROUP!r}): noether-train refuses the name where both are "
        f"installed; rename it in {entry.distribution}, or name the one meant by its path "
        f"({BUILTIN_LOSSES_MODULE}:{name} or {entry.value})"
    )


def check_loss_name(name: str) -> str:
    """`name` when it names a loss: a known short name that one distribution publishes (at a
    name that exists), or an import path to a name that exists (read without importing the
    module, see `noether.config.static_lookup`).

    Raises:
        ValueError: why it names none (the known names, closest first).
    """
    if "." in name or ":" in name:
        from noether.config.static_lookup import missing_name

        problem = missing_name(name)
        if problem is not None:
            raise ValueError(problem)
        return name
    if name not in known_losses():
        raise ValueError(unknown_loss_message(name))
    problem = duplicate_loss_message(name) or _unpublished_target(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def _unpublished_target(name: str) -> str | None:
    """Why the entry point of a plug-in's loss `name` names nothing (its module or function
    is missing, read without importing), or None."""
    from noether.config.static_lookup import missing_name

    entry = find_kind(LOSS_ENTRY_POINT_GROUP, name)
    if entry is None or entry.distribution == BUILTIN_LOSSES_DISTRIBUTION:
        return None
    problem = missing_name(entry.value)
    if problem is None:
        return None
    return f"loss {name!r} is published by {entry.distribution} as {entry.value!r}: {problem}"


class _LossNameJsonSchema:
    """In JSON Schema, a loss name is one of the known names (editors complete them) or an
    import path, as `check_loss_name` takes it."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        from noether.config.kind_json_schema import DOTTED_KIND_PATTERN

        schema = handler(core_schema)
        schema.pop("type", None)
        schema["anyOf"] = [
            {"enum": sorted(known_losses())},
            {"type": "string", "pattern": DOTTED_KIND_PATTERN, "description": "An import path."},
        ]
        return schema


LossName = Annotated[str, AfterValidator(check_loss_name), _LossNameJsonSchema()]
"""A config field that names a loss, checked by `noether-config validate` as `loss_fn` of
`weighted_loss` is: a trainer of one's own declares `loss_fn: LossName = "mse"`, and an
unknown name is refused at its line, before the run."""


def unknown_loss_message(name: str) -> str:
    """Why `name` is no loss: the known names, closest first."""
    from noether.config.similar_names import closest_first

    known = closest_first(name, known_losses())
    return f"unknown loss {name!r}; known losses: {', '.join(known)}"


def unweighted_key(field: str) -> str:
    """Logged name of the unweighted loss of `field` (the trainer and validation share it)."""
    return f"{field}{UNWEIGHTED_SUFFIX}"


def weighted_loss_names(field_weights: dict[str, float]) -> list[str]:
    """The losses that the weighted-loss trainer logs: each trained field (weight not 0), every
    field's unweighted loss, and the total."""
    trained = [field for field, weight in field_weights.items() if weight]
    return [*trained, *(unweighted_key(field) for field in field_weights), TOTAL_KEY]


def field_name_clash(field_names: Iterable[str]) -> tuple[str, str] | None:
    """The first field whose name is a logged name of the weighted-loss trainer, and why.

    `total` and `<field>_unweighted` are logged next to each field's loss, so a field of that
    name would overwrite (or be overwritten by) another logged value. Validation and the
    trainer both ask, so `noether-config validate` refuses what the run would.

    Returns:
        (the field, the message), or None when every name is free.
    """
    names = list(field_names)
    if TOTAL_KEY in names:
        message = (
            f"field_weights may not name a field {TOTAL_KEY!r}: it is the logged name of the "
            "weighted total"
        )
        return TOTAL_KEY, message
    for field in names:
        if unweighted_key(field) in names:
            message = (
                f"field_weights names both {field!r} and {unweighted_key(field)!r}, the logged "
                "name of the unweighted loss of the first; rename one"
            )
            return field, message
    return None


def target_key(field: str) -> str:
    """Batch key that holds the ground truth of `field` (the trainer and validation share it)."""
    return f"{field}{TARGET_SUFFIX}"


def missing_field_targets(
    field_weights: Iterable[str], target_properties: Iterable[str]
) -> str | None:
    """Why given `target_properties` cannot train `field_weights`, or None when they can.

    Empty target properties default to `<field>_target` for every field; given ones must hold
    each of them, as the weighted loss reads them by that name.
    """
    given = list(target_properties)
    needed = [target_key(field) for field in field_weights]
    missing = [key for key in needed if key not in given]
    if not given or not missing:
        return None
    return (
        f"target_properties ({', '.join(given)}) lacks {', '.join(missing)}, the target of a "
        f"weighted field; leave target_properties empty to use {', '.join(needed)}"
    )
