"""Schedule values at chosen updates, computed by hand."""

from __future__ import annotations

import math

import pytest

from noether.config.schemas.schedule import (
    ConstantScheduleConfig,
    LinearScheduleConfig,
    LinearWarmupCosineDecayScheduleConfig,
    PolynomialScheduleConfig,
    StepScheduleConfig,
)
from noether.core.optim.schedules import (
    ConstantSchedule,
    LinearSchedule,
    LinearWarmupCosineDecaySchedule,
    PolynomialSchedule,
    StepSchedule,
    build_schedule,
)


def test_constant_schedule_returns_its_value_at_every_update() -> None:
    schedule = ConstantSchedule(ConstantScheduleConfig(value=0.5), total_updates=10)
    assert [schedule.get_value(u) for u in (0, 5, 9, 20)] == [0.5, 0.5, 0.5, 0.5]


def test_linear_schedule_goes_from_start_at_first_to_end_at_last_update() -> None:
    # 11 updates: progress u / 10
    schedule = LinearSchedule(LinearScheduleConfig(start_value=1.0, end_value=0.2), 11)
    assert schedule.get_value(0) == pytest.approx(1.0)
    assert schedule.get_value(5) == pytest.approx(1.0 + (0.2 - 1.0) * 0.5)  # 0.6
    assert schedule.get_value(10) == pytest.approx(0.2)
    assert schedule.get_value(50) == pytest.approx(0.2)  # clamped past the end


def test_step_schedule_multiplies_by_gamma_every_step_size_updates() -> None:
    schedule = StepSchedule(StepScheduleConfig(step_size=3, gamma=0.5), 100)
    values = [schedule.get_value(u) for u in (0, 2, 3, 5, 6, 9)]
    assert values == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.125])


def test_polynomial_schedule_decays_with_power() -> None:
    # 5 updates: progress u / 4; value = 0.1 + 0.9 * (1 - p) ** 2
    schedule = PolynomialSchedule(PolynomialScheduleConfig(power=2.0, end_value=0.1), 5)
    assert schedule.get_value(0) == pytest.approx(1.0)
    assert schedule.get_value(1) == pytest.approx(0.1 + 0.9 * 0.75**2)  # 0.60625
    assert schedule.get_value(2) == pytest.approx(0.1 + 0.9 * 0.25)  # 0.325
    assert schedule.get_value(4) == pytest.approx(0.1)


def test_warmup_cosine_warms_up_linearly_then_decays_to_end_value() -> None:
    config = LinearWarmupCosineDecayScheduleConfig(warmup_updates=4, end_value=0.0)
    schedule = LinearWarmupCosineDecaySchedule(config, total_updates=14)
    # warm-up: (u + 1) / 4
    assert [schedule.get_value(u) for u in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    # decay from update 4 (progress 0) to update 13 (progress 1): 0.5 * (1 + cos(pi * p))
    assert schedule.get_value(4) == pytest.approx(1.0)
    p = (7 - 4) / (13 - 4)
    assert schedule.get_value(7) == pytest.approx(0.5 * (1 + math.cos(math.pi * p)))  # 0.75
    assert schedule.get_value(13) == pytest.approx(0.0, abs=1e-12)


def test_warmup_percent_is_a_fraction_of_all_updates() -> None:
    config = LinearWarmupCosineDecayScheduleConfig(warmup_percent=0.1, end_value=0.5)
    schedule = LinearWarmupCosineDecaySchedule(config, total_updates=100)
    assert schedule.warmup_updates == 10
    assert schedule.get_value(0) == pytest.approx(0.1)
    assert schedule.get_value(9) == pytest.approx(1.0)
    assert schedule.get_value(99) == pytest.approx(0.5)
    # halfway through the decay (updates 10..99): 0.5 + 0.5 * 0.5 * (1 + cos(pi / 2))
    assert schedule.get_value(10 + 89 // 2) == pytest.approx(
        0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi * (89 // 2) / 89))
    )


def test_schedules_are_stateless() -> None:
    schedule = LinearSchedule(LinearScheduleConfig(), 21)
    forward = [schedule.get_value(u) for u in range(21)]
    backward = [schedule.get_value(u) for u in reversed(range(21))]
    assert forward == list(reversed(backward))


def test_build_schedule_uses_the_schema_target() -> None:
    schedule = build_schedule(StepScheduleConfig(step_size=2), total_updates=8)
    assert isinstance(schedule, StepSchedule)
    assert schedule.get_value(4) == pytest.approx(0.01)


def test_single_update_run_uses_the_start_value() -> None:
    assert LinearSchedule(LinearScheduleConfig(end_value=0.0), 1).get_value(0) == 1.0
    cosine = LinearWarmupCosineDecaySchedule(LinearWarmupCosineDecayScheduleConfig(), 1)
    assert cosine.get_value(0) == 1.0
