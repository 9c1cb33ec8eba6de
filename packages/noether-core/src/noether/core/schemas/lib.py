"""The seed's `noether.core.schemas.lib`: `_RegistryBase` is `noether.config.RegistryBase`."""

from noether.config.registry import RegistryBase

_RegistryBase = RegistryBase
"""The seed's name of the base class of every kind-registered schema."""

__all__ = ["RegistryBase", "_RegistryBase"]
