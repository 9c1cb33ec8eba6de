"""Optimizers with parameter groups, gradient clipping and learning-rate schedules."""

from noether.core.optim.builder import build_optimizer, build_param_groups, clip_gradients
from noether.core.optim.schedules import (
    ConstantSchedule,
    LinearSchedule,
    LinearWarmupCosineDecaySchedule,
    PolynomialSchedule,
    ScheduleBase,
    StepSchedule,
    build_schedule,
)

__all__ = [
    "ConstantSchedule",
    "LinearSchedule",
    "LinearWarmupCosineDecaySchedule",
    "PolynomialSchedule",
    "ScheduleBase",
    "StepSchedule",
    "build_optimizer",
    "build_param_groups",
    "build_schedule",
    "clip_gradients",
]
