"""Which config changes a resumed run can take without leaving the uninterrupted run's path.

The config stored with a checkpoint is compared key by key with the config a run resumes
with. Changes to what decides the weights (batch sizes, seed, datasets, the model and its
optimizer kind, precision) break exactness and are refused unless forced; the others (a
raised stop criterion, log or track intervals, added callbacks, the tracker, ...) pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from noether.core.precision import parse_precision

_BREAKING_KEYS = (
    "seed",
    "trainer.effective_batch_size",
    "trainer.max_batch_size",
    "trainer.precision",
    "model.optimizer.kind",
)
_IGNORED = ("name", "output_path", "trainer.initializer")
"""Where the run lives and how it is resumed: not part of what is trained."""


@dataclass(frozen=True)
class ConfigChange:
    """One key whose value differs between the stored and the new config."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}: {_show(self.old)} -> {_show(self.new)}"


_MISSING = object()


def _show(value: Any) -> str:
    return "(absent)" if value is _MISSING else repr(value)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, Mapping) or not tree:
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _is_empty_parent(key: str, value: Any, other_flat: Mapping[str, Any]) -> bool:
    """Whether `value` is an empty mapping (a leaf of `_flatten`) whose key the other config
    fills with keys beneath it: `lr_scale: {}` against `lr_scale.head: 0.5`."""
    prefix = key + "."
    return value == {} and any(other.startswith(prefix) for other in other_flat)


def _canonical(key: str, value: Any) -> Any:
    """One spelling per value: a precision's aliases (bf16, bfloat16) are the same dtype."""
    if key == "trainer.precision" and isinstance(value, str):
        try:
            return parse_precision(value)
        except ValueError:
            return value
    return value


def _is_ignored(key: str) -> bool:
    return any(key == root or key.startswith(root + ".") for root in _IGNORED)


def _breaks_exactness(change: ConfigChange) -> bool:
    key = change.key
    if key in _BREAKING_KEYS:
        return True
    if key.startswith("datasets."):
        return change.old is not _MISSING  # a dataset added for a new callback is harmless
    return key.startswith("model.") and not key.startswith("model.optimizer.")


def compare_configs(
    stored: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[list[ConfigChange], list[ConfigChange]]:
    """(changes that break an exact resume, other changes) from the stored to the new config.

    Args:
        stored: the config the checkpoint was written with (as in the run's config.yaml).
        new: the config of the resumed run, in the same (JSON) form.
    """
    breaking: list[ConfigChange] = []
    other: list[ConfigChange] = []
    for change in _changes(_flatten(dict(stored)), _flatten(dict(new))):
        (breaking if _breaks_exactness(change) else other).append(change)
    return breaking, other


def _changes(old_flat: Mapping[str, Any], new_flat: Mapping[str, Any]) -> list[ConfigChange]:
    """The keys whose values differ; lists of one length (callbacks) by their items' keys
    (`trainer.callbacks.0.every_n_epochs: 1 -> 2`), not as two whole lists."""
    changes: list[ConfigChange] = []
    for key in sorted(old_flat.keys() | new_flat.keys()):
        if _is_ignored(key):
            continue
        old, value = old_flat.get(key, _MISSING), new_flat.get(key, _MISSING)
        if _canonical(key, old) == _canonical(key, value):
            continue
        if _is_empty_parent(key, old, new_flat) or _is_empty_parent(key, value, old_flat):
            continue  # `lr_scale: {} -> (absent)`: the keys beneath it tell the change
        if isinstance(old, list) and isinstance(value, list) and len(old) == len(value):
            changes += _changes(
                _flatten(dict(enumerate(old)), key), _flatten(dict(enumerate(value)), key)
            )
            continue
        changes.append(ConfigChange(key, old, value))
    return changes


__all__ = ["ConfigChange", "compare_configs"]
