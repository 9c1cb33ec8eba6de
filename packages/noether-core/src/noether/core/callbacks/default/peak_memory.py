"""Peak memory of the run: CUDA allocator peak on GPUs, the process's max RSS on CPU."""

from __future__ import annotations

import logging
import sys
from typing import Any

import torch

from noether.core.callbacks.base import PeriodicCallback

try:  # POSIX only; without it the CPU peak is unavailable (e.g. on Windows)
    import resource as _resource
except ImportError:  # pragma: no cover - not on POSIX
    _resource = None  # type: ignore[assignment]

_MB = 1024 * 1024
_RSS_PER_MB = _MB if sys.platform == "darwin" else 1024
"""ru_maxrss is in KiB on Linux, in bytes on macOS."""


def _rusage_who() -> int:
    """RUSAGE_THREAD on Linux, where ru_maxrss is the process's peak for it too and asking is
    cheaper than for RUSAGE_SELF (no walk over the process's threads); else RUSAGE_SELF."""
    if _resource is None:
        return 0
    if sys.platform == "linux":
        return int(getattr(_resource, "RUSAGE_THREAD", _resource.RUSAGE_SELF))
    return _resource.RUSAGE_SELF


_RUSAGE_WHO = _rusage_who()


def peak_memory_mb(device: torch.device) -> float:
    """Highest memory use so far in MiB (CUDA: tensors allocated; else: resident set size)."""
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(device) / _MB
    if _resource is None:
        raise ImportError("the resource module (POSIX) is needed for the CPU peak memory")
    return _resource.getrusage(_RUSAGE_WHO).ru_maxrss / _RSS_PER_MB


class PeakMemoryCallback(PeriodicCallback):
    """Logs `memory/peak_mb` (the peak since the process started) every log interval."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_peak_mb: float | None = None
        self._device: tuple[Any, torch.device] | None = None

    def _torch_device(self) -> torch.device:
        """The context's device as a torch.device, converted once per distinct value."""
        device = self.device
        cached = self._device
        if cached is None or cached[0] is not device:
            cached = self._device = (device, torch.device(device))
        return cached[1]

    def periodic_callback(self) -> None:
        device = self._torch_device()
        try:
            peak = peak_memory_mb(device)
        except (ImportError, OSError) as error:  # e.g. no `resource` module on Windows
            self.logger.debug("peak memory unavailable: %s", error)
            return
        self.last_peak_mb = peak
        writer = self.log_writer
        if writer is not None:
            writer.add_scalar("memory/peak_mb", peak)
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):
            logger.info("peak memory %.1f MiB (%s)", peak, device.type)
