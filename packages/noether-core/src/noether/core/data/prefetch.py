"""Host-to-device copies one batch ahead on a side CUDA stream, so the forward never waits
on a copy: while the GPU computes batch N, batch N + 1 is on its way."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

Batch = dict[str, Any]


def map_tensors(function: Callable[[Tensor], Tensor], value: Any) -> Any:
    """The value with `function` applied to each of its tensors, walking dicts, lists and
    tuples (named tuples and dict types kept); other values (a batch's names) as they are,
    so that a batch that works on the CPU works on a GPU."""
    if isinstance(value, Tensor):
        return function(value)
    if type(value) is dict:
        return {key: map_tensors(function, item) for key, item in value.items()}
    if isinstance(value, dict):  # OrderedDict, defaultdict: a copy keeps the type
        clone = copy.copy(value)
        clone.update((key, map_tensors(function, item)) for key, item in value.items())
        return clone
    if isinstance(value, tuple):
        items = [map_tensors(function, item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, list):
        return [map_tensors(function, item) for item in value]
    return value


def to_device(batch: Any, device: torch.device) -> Any:
    """The batch with its tensors copied to `device` (`non_blocking`; see `map_tensors`)."""
    return map_tensors(lambda tensor: tensor.to(device, non_blocking=True), batch)


class CudaPrefetcher:
    """Iterates `batches` (dicts) with their tensors already on `device`.

    Each batch's tensors are copied with `non_blocking=True` on a side stream when the
    batch before it is handed out. Handing out a batch makes the compute stream (the stream
    current when the prefetcher was made) wait for its copy (`wait_stream`, a GPU-side wait:
    the host does not block) and marks its tensors as used by the compute stream
    (`record_stream`), so the caching allocator does not give their memory to another tensor
    before the compute that reads them is done. Non-blocking copies overlap only from
    page-locked memory: the run's loader pins by default on CUDA.

    Values that are not tensors are passed through unchanged (see `map_tensors`).
    """

    def __init__(self, batches: Iterator[Batch], device: torch.device) -> None:
        if device.type != "cuda":
            raise ValueError(f"CudaPrefetcher needs a CUDA device, not {device}")
        self.batches = batches
        self.device = device
        self.stream = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
        self.compute = torch.cuda.current_stream(device)
        self.next_batch: Batch | None = None
        self.exhausted = False
        self._load_next()

    def __iter__(self) -> CudaPrefetcher:
        return self

    def __next__(self) -> Batch:
        batch = self.next_batch
        if batch is None:
            raise StopIteration
        self.compute.wait_stream(self.stream)
        map_tensors(self._record, batch)
        self._load_next()
        return batch

    def _record(self, tensor: Tensor) -> Tensor:
        if tensor.device.type == "cuda":
            tensor.record_stream(self.compute)
        return tensor

    def _load_next(self) -> None:
        """Takes the next batch from the stream and starts its copy on the side stream."""
        self.next_batch = None
        if self.exhausted:
            return
        try:
            batch = next(self.batches)
        except StopIteration:
            self.exhausted = True
            return
        with torch.cuda.stream(self.stream):
            self.next_batch = to_device(batch, self.device)
