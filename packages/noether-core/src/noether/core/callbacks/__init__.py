"""Callback framework; default callbacks live in `noether.core.callbacks.default`."""

from noether.core.callbacks.base import (
    CallbackBase,
    CallbackContext,
    PeriodicCallback,
    PeriodicDataIteratorCallback,
)
from noether.core.callbacks.errors import CallbackConfigError
from noether.core.trainer.types import EarlyStopIteration

__all__ = [
    "CallbackBase",
    "CallbackConfigError",
    "CallbackContext",
    "EarlyStopIteration",
    "PeriodicCallback",
    "PeriodicDataIteratorCallback",
]
