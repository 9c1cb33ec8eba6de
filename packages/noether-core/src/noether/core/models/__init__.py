"""Models: `ModelBase`, the base class of every trained model."""

from noether.core.models.base import ModelBase

__all__ = ["ModelBase"]
