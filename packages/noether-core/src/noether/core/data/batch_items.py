"""A batch's items before collation, and what is wrong with them when they do not stack.

Items are stacked key by key, so every item of a dataset needs the same keys and the same
shape and dtype per key. torch's own errors for items that break this (`KeyError: 'heat'`, `stack
expects each tensor to be equal size`) name neither the dataset, the key nor the sample, and
it drops a key that the batch's first item lacks without a word;
`describe_mismatch` does, from the `FetchedItems` that `MultiDataset` returns; for sparse
and nested tensors, which torch asks for a custom collate_fn for, it says how to store them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from noether.config.errors import type_with_article
from noether.core.failures import READING, defined_at


class UnstackableItemsError(ValueError):
    """The items of one batch differ in their keys, types or shapes, or hold sparse or nested
    tensors, so they cannot stack."""


class GetItemsError(ValueError):
    """A dataset's `__getitems__` returned something else than one item per index."""


def check_getitems(
    returned: Any, items: list[Any], indices: Sequence[int], dataset: str | None, method: Any
) -> None:
    """Raises `GetItemsError` unless `__getitems__` returned one item per index (a batch
    already stacked into a dict comes back as its keys, which fail far from the cause)."""
    if len(items) == len(indices) and not isinstance(returned, Mapping):
        return
    what = f"a {type(returned).__name__} of {len(items)}"
    if isinstance(returned, Mapping):
        what = f"a {type(returned).__name__} (keys {', '.join(map(str, returned))})"
    where = f"dataset '{dataset}': " if dataset is not None else ""
    raise GetItemsError(
        f"{where}{defined_at(method)} returned {what} for {len(indices)} indices; it must "
        "return the batch's items, one per index, as __getitem__ gives them (noether stacks "
        "them)"
    )


SHOWN_INDICES = 8
"""Indices of a failed `__getitems__` call that its note lists."""


def note_reading(error: BaseException, dataset: str | None, indices: Sequence[int]) -> None:
    """Adds a note naming the dataset and the index (or the indices of a `__getitems__`
    call) to an error that reading them raised: the user's own message often names neither,
    and the run's console shows notes (see `noether.core.failures`)."""
    where = f"dataset '{dataset}'" if dataset is not None else "the dataset"
    if len(indices) == 1:
        what = f"at index {indices[0]}"
    else:
        shown = ", ".join(map(str, indices[:SHOWN_INDICES]))
        more = f", ... ({len(indices)} in all)" if len(indices) > SHOWN_INDICES else ""
        what = f"with __getitems__ at indices [{shown}{more}]"
    error.add_note(f"{READING}{where} {what}")


class FetchedItems(list[Any]):
    """The items of one batch, with the dataset and the sample indices they came from."""

    dataset: str | None
    indices: Sequence[int]

    def __init__(self, items: Iterable[Any], dataset: str | None, indices: Sequence[int]) -> None:
        super().__init__(items)
        self.dataset = dataset
        self.indices = indices


_Found = tuple[int, str]
"""(position of the first item that differs from the first one, how; `OTHER` is the first)"""
OTHER = "\x00other\x00"
SAME_KEYS_AND_SHAPES = (
    "every item needs the same keys and the same shape per key, since batches stack them key "
    "by key (pad point clouds, or sample a fixed number of points)"
)
SAME_DTYPES = (
    "every item needs the same dtype per key: a batch of mixed dtypes would take the first "
    "item's (with data workers) or the widest (without), so cast it in __getitem__"
)
DENSE = (
    "batches stack dense tensors only: return it dense (.to_dense()), or its indices and "
    "values padded to a fixed size"
)
STACKABLE = (Tensor, np.ndarray, np.generic, int, float, complex, str, bytes, Sequence)
"""The values that `default_collate` stacks, besides mappings."""
STACKABLE_VALUES = (
    "an item's values are tensors, arrays or numbers (a missing value too: NaN, with a mask "
    "key where the model needs one)"
)
PADDED = "batches stack dense tensors only: return it padded (.to_padded_tensor(0.0))"


def _compare(values: list[Any], path: str) -> _Found | None:
    """The first item that does not match the first one at `path` (keys, type, shape)."""
    first = values[0]
    if isinstance(first, Mapping):
        for position, value in enumerate(values):
            if not isinstance(value, Mapping):
                what = f"is {type_with_article(value)}, {OTHER} {type_with_article(first)}"
                return position, f"{what}; {SAME_KEYS_AND_SHAPES}"
            missing = [key for key in first if key not in value]
            if missing:
                keys = ", ".join(map(str, first))
                what = f"has no key '{path}{missing[0]}' ({OTHER} has {keys})"
                return position, f"{what}; {SAME_KEYS_AND_SHAPES}"
            extra = [key for key in value if key not in first]
            if extra:
                keys = f"only {', '.join(map(str, first))}" if first else "no keys"
                what = f"has a key '{path}{extra[0]}' ({OTHER} has {keys})"
                return position, f"{what}; {SAME_KEYS_AND_SHAPES}"
        for key in first:
            found = _compare([value[key] for value in values], f"{path}{key}.")
            if found is not None:
                return found
        return None
    where = f" at '{path.removesuffix('.')}'" if path else ""
    if isinstance(first, Tensor) and (first.is_nested or first.layout is not torch.strided):
        if first.is_nested:
            return 0, f"has a nested tensor{where}; {PADDED}"
        return 0, f"has a {str(first.layout).removeprefix('torch.')} tensor{where}; {DENSE}"
    for position, value in enumerate(values):
        if not isinstance(value, STACKABLE):
            return position, f"has {type_with_article(value)}{where}; {STACKABLE_VALUES}"
    array = isinstance(first, (Tensor, np.ndarray))
    for position, value in enumerate(values):
        if array != isinstance(value, (Tensor, np.ndarray)):
            what = f"has {type_with_article(value)}{where}, {OTHER} {type_with_article(first)}"
            return position, f"{what}; {SAME_KEYS_AND_SHAPES}"
        if isinstance(value, Tensor) and value.layout is not torch.strided:
            return (
                position,
                f"has a {str(value.layout).removeprefix('torch.')} tensor{where}; {DENSE}",
            )
        if array and tuple(value.shape) != tuple(first.shape):
            shapes = f"{list(value.shape)}{where}, {OTHER} {list(first.shape)}"
            return position, f"has shape {shapes}; {SAME_KEYS_AND_SHAPES}"
        if array and isinstance(value, Tensor) != isinstance(first, Tensor):
            what = f"has {type_with_article(value)}{where}, {OTHER} {type_with_article(first)}"
            return position, f"{what}; {SAME_KEYS_AND_SHAPES}"
        if array and value.dtype != first.dtype:
            dtypes = f"{_dtype(value)}{where}, {OTHER} {_dtype(first)}"
            return position, f"has dtype {dtypes}; {SAME_DTYPES}"
    return None


def _dtype(value: Tensor | np.ndarray) -> str:
    return str(value.dtype).removeprefix("torch.")


def describe_mismatch(items: list[Any]) -> str | None:
    """What makes these items unstackable, naming the dataset, the key and the samples, or
    None when they match (their error is something else)."""
    try:
        found = _compare(list(items), "") if items else None
    except Exception:  # values it cannot inspect: torch's error stands
        return None
    if found is None:
        return None
    position, what = found
    indices = getattr(items, "indices", None) or range(len(items))
    dataset = getattr(items, "dataset", None)
    where = f"dataset '{dataset}': " if dataset is not None else ""
    what = what.replace(OTHER, f"the one at index {indices[0]}")
    return f"{where}the item at index {indices[position]} {what}"
