"""Peak memory of the run: CUDA allocator peak on GPUs, the process's max RSS on CPU."""

from __future__ import annotations

import logging
import sys
from typing import Any

import torch

from noether.core.callbacks.base import PeriodicCallback

_MB = 1024 * 1024


def peak_memory_mb(device: torch.device) -> float:
    """Highest memory use so far in MiB (CUDA: tensors allocated; else: resident set size)."""
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(device) / _MB
    import resource  # POSIX only; imported here so that importing this module works anywhere

    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return max_rss / _MB if sys.platform == "darwin" else max_rss / 1024


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
        if self.log_writer is not None:
            self.log_writer.add_scalar("memory/peak_mb", peak)
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):
            logger.info("peak memory %.1f MiB (%s)", peak, device.type)
