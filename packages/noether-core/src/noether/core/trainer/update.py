"""Seed path of `NonFiniteLossError` (the step itself lives in `noether.core.trainer.step`)."""

from noether.core.trainer.types import NonFiniteLossError

__all__ = ["NonFiniteLossError"]
