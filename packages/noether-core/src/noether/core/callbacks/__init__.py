"""Callback framework; default callbacks live in `noether.core.callbacks.default`."""

from noether.core.callbacks.base import (
    CallbackBase,
    CallbackContext,
    PeriodicCallback,
    PeriodicDataIteratorCallback,
)
from noether.core.trainer.types import EarlyStopIteration

__all__ = [
    "CallbackBase",
    "CallbackContext",
    "EarlyStopIteration",
    "PeriodicCallback",
    "PeriodicDataIteratorCallback",
]
