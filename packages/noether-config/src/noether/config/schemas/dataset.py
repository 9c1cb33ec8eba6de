"""Root schema of datasets; users subclass it with their dataset's fields."""

from typing import ClassVar

from noether.config.registry import RegistryBase


class DatasetConfig(RegistryBase):
    """A map-style dataset whose items are dicts of tensors."""

    entry_point_group: ClassVar[str] = "noether.datasets"
