"""Mixed precision: which dtype a device really supports, autocast and the gradient scaler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
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


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype to autocast to on `device`, falling back (and saying so once) where needed.

    - float16 on CPU: CPU autocast is made for bfloat16 -> bfloat16.
    - bfloat16 on a CUDA device without bf16 -> float16 (with a gradient scaler).
    - anything other than float32 on another device type (e.g. mps) -> float32.
    """
    desired = parse_precision(name)
    if desired == torch.float32:
        return desired
    resolved = desired
    if device.type == "cpu":
        resolved = torch.bfloat16
    elif device.type == "cuda":
        if desired == torch.bfloat16 and not _cuda_bf16_supported(device):
            resolved = torch.float16
    else:
        resolved = torch.float32
    if resolved != desired:
        _logger.warning(
            "precision %s is not supported on %s; using %s instead",
            name,
            device.type,
            str(resolved).removeprefix("torch."),
        )
    return resolved


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
