"""Peak memory of the run: CUDA allocator peak on GPUs, the process's max RSS on CPU."""

from __future__ import annotations

import sys
from typing import Any

import torch

from noether.core.callbacks.base import PeriodicCallback

try:  # POSIX only; without it the CPU peak is unavailable (e.g. on Windows)
    import resource
except ImportError:  # pragma: no cover - not on POSIX
    resource = None  # type: ignore[assignment]

_MB = 1024 * 1024
_RSS_PER_MB = _MB if sys.platform == "darwin" else 1024
"""ru_maxrss is in KiB on Linux, in bytes on macOS."""


def peak_memory_mb(device: torch.device) -> float:
    """Highest memory use so far in MiB (CUDA: tensors allocated; else: resident set size)."""
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(device) / _MB
    if resource is None:
        raise ImportError("the resource module (POSIX) is needed for the CPU peak memory")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _RSS_PER_MB


class PeakMemoryCallback(PeriodicCallback):
    """Logs `memory/peak_mb` (the peak since the process started) every log interval."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_peak_mb: float | None = None

    def periodic_callback(self) -> None:
        device = torch.device(self.device)
        try:
            peak = peak_memory_mb(device)
        except (ImportError, OSError) as error:  # e.g. no `resource` module on Windows
            self.logger.debug("peak memory unavailable: %s", error)
            return
        self.last_peak_mb = peak
        if self.context.log_writer is not None:
            self.context.log_writer.add_scalar("memory/peak_mb", peak)
        self.logger.info("peak memory %.1f MiB (%s)", peak, device.type)
