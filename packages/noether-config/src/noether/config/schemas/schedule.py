"""Learning-rate schedules: multipliers of the optimizer's lr as a function of the update."""

from typing import ClassVar

from pydantic import Field

from noether.config.field_rules import AtMostOne, FieldRule
from noether.config.registry import RegistryBase


class ScheduleConfig(RegistryBase):
    """A learning-rate multiplier over the training updates."""

    entry_point_group: ClassVar[str] = "noether.schedules"


class ConstantScheduleConfig(ScheduleConfig):
    """The same multiplier at every update."""

    kind: str = "constant"
    target: ClassVar[str] = "noether.core.optim.schedules:ConstantSchedule"

    value: float = Field(default=1.0, ge=0)
    """Multiplier of the learning rate."""


class LinearScheduleConfig(ScheduleConfig):
    """Linear interpolation from start_value to end_value over all updates."""

    kind: str = "linear"
    target: ClassVar[str] = "noether.core.optim.schedules:LinearSchedule"

    start_value: float = Field(default=1.0, ge=0)
    """Multiplier at the first update."""
    end_value: float = Field(default=0.0, ge=0)
    """Multiplier at the last update."""


class StepScheduleConfig(ScheduleConfig):
    """Multiply by gamma every step_size updates."""

    kind: str = "step"
    target: ClassVar[str] = "noether.core.optim.schedules:StepSchedule"

    step_size: int = Field(ge=1)
    """Number of updates between two decays."""
    gamma: float = Field(default=0.1, gt=0)
    """Decay factor applied at each step."""


class PolynomialScheduleConfig(ScheduleConfig):
    """Polynomial decay (1 - progress) ** power from 1 to end_value."""

    kind: str = "polynomial"
    target: ClassVar[str] = "noether.core.optim.schedules:PolynomialSchedule"

    power: float = Field(default=1.0, gt=0)
    """Exponent of the decay."""
    end_value: float = Field(default=0.0, ge=0)
    """Multiplier at the last update."""


class LinearWarmupCosineDecayScheduleConfig(ScheduleConfig):
    """Linear warm-up from 0 to 1, then cosine decay to end_value."""

    kind: str = "linear_warmup_cosine_decay"
    target: ClassVar[str] = "noether.core.optim.schedules:LinearWarmupCosineDecaySchedule"

    warmup_updates: int | None = Field(default=None, ge=0)
    """Length of the warm-up in updates."""
    warmup_percent: float | None = Field(default=None, ge=0, lt=1)
    """Length of the warm-up as a fraction of all updates."""
    end_value: float = Field(default=0.0, ge=0)
    """Multiplier at the last update."""

    @classmethod
    def field_rules(cls) -> tuple[FieldRule, ...]:
        """Warm-up is given in updates or as a fraction, not both."""
        return (AtMostOne("warmup_updates", "warmup_percent"),)
