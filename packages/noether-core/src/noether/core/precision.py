"""Mixed precision: which dtype a device really supports, autocast and the gradient scaler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

_logger = logging.getLogger(__name__)

_ALIASES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def parse_precision(name: str) -> torch.dtype:
    """The dtype of a config's precision name (float32/fp32, float16/fp16, bfloat16/bf16)."""
    try:
        return _ALIASES[name]
    except KeyError:
        raise ValueError(
            f"unknown precision {name!r}; use one of {', '.join(sorted(_ALIASES))}"
        ) from None


def _cuda_bf16_supported(device: torch.device) -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


@dataclass(frozen=True)
class PrecisionChoice:
    """The dtype a run autocasts to, and why it is not the one asked for (None when it is)."""

    dtype: torch.dtype
    reason: str | None = None

    def describe(self, name: str) -> str:
        """E.g. "bfloat16 (asked for fp16: ...)", as the log and `--dry-run` print it."""
        dtype = dtype_name(self.dtype)
        return dtype if self.reason is None else f"{dtype} (asked for {name}: {self.reason})"


def dtype_name(dtype: torch.dtype) -> str:
    """ "bfloat16" for torch.bfloat16."""
    return str(dtype).removeprefix("torch.")


def choose_precision(name: str, device: torch.device) -> PrecisionChoice:
    """The dtype to autocast to on `device`, with the reason for any fallback.

    - float16 on CPU -> bfloat16: torch's CPU autocast runs float16 too, but noether uses a
      gradient scaler on CUDA only, and bfloat16 keeps float32's exponent range (no scaler).
    - bfloat16 on a CUDA device without bf16 -> float16 (with a gradient scaler).
    - anything other than float32 on another device type (e.g. mps) -> float32.
    """
    desired = parse_precision(name)
    if desired == torch.float32:
        return PrecisionChoice(desired)
    if device.type == "cpu" and desired == torch.float16:
        return PrecisionChoice(
            torch.bfloat16,
            "bfloat16 keeps float32's range and needs no gradient scaler (noether scales "
            "gradients on cuda only); torch's cpu autocast runs float16 too",
        )
    if device.type == "cuda" and desired == torch.bfloat16 and not _cuda_bf16_supported(device):
        return PrecisionChoice(torch.float16, f"{device} does not support bfloat16")
    if device.type not in ("cpu", "cuda"):
        return PrecisionChoice(
            torch.float32, f"noether autocasts on cpu and cuda only, not on {device.type}"
        )
    return PrecisionChoice(desired)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype of `choose_precision`, saying once why where it falls back."""
    choice = choose_precision(name, device)
    if choice.reason is not None:
        _logger.warning(
            "precision %s on %s: using %s instead: %s",
            name,
            device,
            dtype_name(choice.dtype),
            choice.reason,
        )
    return choice.dtype


def create_grad_scaler(dtype: torch.dtype, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for float16 on CUDA (bfloat16 and float32 need none)."""
    if dtype == torch.float16 and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


def autocast_factory(dtype: torch.dtype, device: torch.device) -> Callable[[], Any]:
    """A zero-argument factory of the forward context (a no-op context for float32).

    float32 gets `contextlib.nullcontext`: entering a disabled autocast costs time per step.
    """
    if dtype == torch.float32:
        return contextlib.nullcontext

    def _autocast() -> Any:
        return torch.autocast(device_type=device.type, dtype=dtype)

    return _autocast
