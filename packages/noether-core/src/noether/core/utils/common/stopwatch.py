"""The seed's import path of `Stopwatch` (it lives in `noether.core.stopwatch`)."""

from noether.core.stopwatch import Stopwatch

__all__ = ["Stopwatch"]
