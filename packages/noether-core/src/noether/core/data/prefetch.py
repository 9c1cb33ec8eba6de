"""Host-to-device copies one batch ahead on a side CUDA stream, so the forward never waits
on a copy: while the GPU computes batch N, batch N + 1 is on its way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

Batch = dict[str, Any]


class CudaPrefetcher:
    """Iterates `batches` (dicts) with their tensors already on `device`.

    Each batch's tensors are copied with `non_blocking=True` on a side stream when the
    batch before it is handed out. Handing out a batch makes the compute stream wait for
    its copy (`wait_stream`, a GPU-side wait: the host does not block) and marks its tensors
    as used by the compute stream (`record_stream`), so the caching allocator does not give
    their memory to another tensor before the compute that reads them is done. Non-blocking
    copies overlap only from page-locked memory: the run's loader pins by default on CUDA.

    Values that are not tensors are passed through unchanged.
    """

    def __init__(self, batches: Iterator[Batch], device: torch.device) -> None:
        if device.type != "cuda":
            raise ValueError(f"CudaPrefetcher needs a CUDA device, not {device}")
        self.batches = batches
        self.device = device
        self.stream = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
        self.next_batch: Batch | None = None
        self.exhausted = False
        self._load_next()

    def __iter__(self) -> CudaPrefetcher:
        return self

    def __next__(self) -> Batch:
        batch = self.next_batch
        if batch is None:
            raise StopIteration
        compute = torch.cuda.current_stream(self.device)
        compute.wait_stream(self.stream)
        for value in batch.values():
            if isinstance(value, Tensor) and value.device.type == "cuda":
                value.record_stream(compute)
        self._load_next()
        return batch

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
            self.next_batch = {
                key: value.to(self.device, non_blocking=True)
                if isinstance(value, Tensor)
                else value
                for key, value in batch.items()
            }
