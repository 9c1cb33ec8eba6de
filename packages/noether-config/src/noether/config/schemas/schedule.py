"""Learning-rate schedules: multipliers of the optimizer's lr as a function of the update."""

from decimal import ROUND_HALF_UP, Decimal
from typing import ClassVar

from pydantic import ConfigDict, Field, field_validator

from noether.config.field_rules import AtMostOne, FieldRule
from noether.config.registry import RegistryBase


class ScheduleConfig(RegistryBase):
    """A learning-rate multiplier over the training updates."""

    entry_point_group: ClassVar[str] = "noether.schedules"
    # a multiplier of inf (or NaN) makes every weight non-finite at its first update
    model_config = ConfigDict(allow_inf_nan=False)

    def length_problem(self, total_updates: int, source: str = "") -> tuple[str, str] | None:
        """(field, message) when this schedule cannot run its course in `total_updates`
        updates (a warm-up longer than the run, a step that never comes), else None.

        One torch-free rule: `noether-config validate` applies it where the config tells the
        run's length (max_updates, max_samples), the runtime once the data tells it
        (max_epochs), so a schedule that would silently never reach its peak is noted.
        `source` says where the number of updates comes from (`trainer.max_updates: 10`)."""
        return None


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
    gamma: float = Field(default=0.1, gt=0, le=1)
    """Decay factor applied at each step (at most 1: a factor above 1 grows the lr without
    bound, past the largest float in a long run)."""

    def length_problem(self, total_updates: int, source: str = "") -> tuple[str, str] | None:
        """A step as long as the run never decays: the run trains at the full lr."""
        if self.gamma < 1 and 0 < total_updates <= self.step_size:
            where = f", from {source}" if source else ""
            return (
                "step_size",
                f"{self.step_size} updates before the first decay, not fewer than the run has "
                f"({total_updates} updates{where}): the learning rate never decays; shorten "
                "step_size",
            )
        return None


class PolynomialScheduleConfig(ScheduleConfig):
    """Polynomial decay (1 - progress) ** power from 1 to end_value."""

    kind: str = "polynomial"
    target: ClassVar[str] = "noether.core.optim.schedules:PolynomialSchedule"

    power: float = Field(default=1.0, gt=0)
    """Exponent of the decay."""
    end_value: float = Field(default=0.0, ge=0, le=1)
    """Multiplier at the last update (at most 1: the schedule decays from 1)."""


class LinearWarmupCosineDecayScheduleConfig(ScheduleConfig):
    """Linear warm-up from 0 to 1, then cosine decay to end_value."""

    kind: str = "linear_warmup_cosine_decay"
    target: ClassVar[str] = "noether.core.optim.schedules:LinearWarmupCosineDecaySchedule"

    warmup_updates: int | None = Field(default=None, ge=0)
    """Length of the warm-up in updates."""
    warmup_percent: float | None = Field(default=None, ge=0, lt=1)
    """Length of the warm-up as a fraction of all updates (0.05 for 5%), rounded to the nearest
    update, halves up: 0.05 of 50 updates is 3, of 30 updates 2 (1.5 rounds up), of 10
    updates 1. The product is taken of the number as written (0.1 of 30 is 3, not the
    3.0000000000000004 of binary floats)."""
    end_value: float = Field(default=0.0, ge=0, le=1)
    """Multiplier at the last update (at most 1: the schedule decays from its peak)."""

    @field_validator("warmup_percent", mode="before")
    @classmethod
    def validate_warmup_percent(cls, value: object) -> object:
        """`warmup_percent: 5` means 5% to whoever reads the name: say it is a fraction (the
        bound alone said "less than 1")."""
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
            raise ValueError(
                f"warmup_percent is a fraction of all updates, less than 1 (0.05 for 5%), "
                f"got {value}"
            )
        return value

    @classmethod
    def field_rules(cls) -> tuple[FieldRule, ...]:
        """Warm-up is given in updates or as a fraction, not both."""
        return (AtMostOne("warmup_updates", "warmup_percent"),)

    def warmup_length(self, total_updates: int) -> int:
        """Warm-up updates of a run of `total_updates` updates (the runtime's rule too)."""
        if self.warmup_updates is not None:
            return self.warmup_updates
        if self.warmup_percent is not None:
            # Decimal(repr(...)) is the fraction as written; Python's round() would round
            # halves to even (2.5 -> 2, 3.5 -> 4), so equal fractions of similar runs differ
            exact = Decimal(repr(self.warmup_percent)) * total_updates
            return int(exact.to_integral_value(rounding=ROUND_HALF_UP))
        return 0

    def length_problem(self, total_updates: int, source: str = "") -> tuple[str, str] | None:
        """A warm-up of more updates than the run has never reaches the peak lr."""
        warmup = self.warmup_length(total_updates)
        if 0 < total_updates < warmup:
            where = f", from {source}" if source else ""
            reached = total_updates / warmup
            return (
                "warmup_updates",
                f"{warmup} updates of warm-up are more than the run has ({total_updates} "
                f"updates{where}): the learning rate would stop at {reached:.3g} of its peak "
                "and never decay; shorten the warm-up or use warmup_percent",
            )
        return None
