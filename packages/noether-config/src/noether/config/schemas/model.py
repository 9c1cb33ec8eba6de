"""Root schema of models; users subclass it with their architecture's fields."""

from typing import Annotated, ClassVar

from noether.config.discriminated import Discriminated
from noether.config.registry import RegistryBase
from noether.config.schemas.optimizer import OptimizerConfig


class ModelConfig(RegistryBase):
    """A model: its runtime class is a `noether.core.models.ModelBase` subclass."""

    entry_point_group: ClassVar[str] = "noether.models"

    optimizer: Annotated[OptimizerConfig, Discriminated(OptimizerConfig)] | None = None
    """Optimizer (and schedule) of the model; none for a frozen or evaluation-only model."""
    is_frozen: bool = False
    """Train no parameter of this model."""
