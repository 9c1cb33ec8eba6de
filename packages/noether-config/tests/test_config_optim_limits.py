"""Optimizer and schedule values that cannot work are refused by validation, at their key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from noether.config import ConfigError, load_config
from noether.config.schemas.run_length import schedule_length_note
from noether.config.schemas.schedule import LinearWarmupCosineDecayScheduleConfig

Project = Callable[..., Path]

SCHEDULE_LINE = 11  # `schedule:` of VALID_CONFIG (conftest)


def issues_of(path: Path, overrides: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize(
    ("overrides", "runs"),
    [
        (["trainer.max_updates=10"], "trainer.max_updates: 10"),
        (["trainer.max_samples=40"], "trainer.max_samples: 40"),  # 4 samples per update
    ],
)
def test_warmup_longer_than_the_run_is_a_note_at_its_key(
    project: Project, valid_yaml: str, overrides: list[str], runs: str
) -> None:
    # a note, not an error: `trainer.max_updates=1` to try a config should still run
    folder = project(**{"exp.yaml": valid_yaml})
    warmup = "model.optimizer.schedule={kind: linear_warmup_cosine_decay, warmup_updates: 50}"
    config = load_config(folder / "exp.yaml", ["trainer.max_epochs=null", *overrides, warmup])
    (note,) = [str(issue) for issue in config.notes()]
    assert f"exp.yaml:{SCHEDULE_LINE}: model.optimizer.schedule.warmup_updates: 50 " in note
    assert f"more than the run has (10 updates, from {runs})" in note
    assert "stop at 0.2 of its peak" in note
    assert note.endswith(f"(set by override {warmup!r})")  # the line is where it was set


@pytest.mark.parametrize(("step_size", "noted"), [(10, True), (50, True), (9, False)])
def test_a_step_as_long_as_the_run_is_a_note_at_its_key(
    project: Project, valid_yaml: str, step_size: int, noted: bool
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    step = f"model.optimizer.schedule={{kind: step, step_size: {step_size}}}"
    config = load_config(
        folder / "exp.yaml", ["trainer.max_epochs=null", "trainer.max_updates=10", step]
    )
    notes = [str(issue) for issue in config.notes()]
    if not noted:  # the 10th update (index 9) is the first at 0.1 of the lr
        assert notes == []
        return
    (note,) = notes
    assert f"exp.yaml:{SCHEDULE_LINE}: model.optimizer.schedule.step_size: {step_size} " in note
    assert "than the run has (10 updates, from trainer.max_updates: 10)" in note
    assert "the learning rate never decays" in note


def test_warmup_within_the_run_has_no_note_and_epochs_need_the_data(
    project: Project, valid_yaml: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    warmup = "model.optimizer.schedule={kind: linear_warmup_cosine_decay, warmup_updates: 10}"
    config = load_config(
        folder / "exp.yaml", ["trainer.max_epochs=null", "trainer.max_updates=10", warmup]
    )
    assert config.notes() == []
    # in epochs the run's length needs the data's size: the trainer tells it
    config = load_config(folder / "exp.yaml", [warmup])  # max_epochs: 2
    assert config.notes() == []
    note = schedule_length_note(config.model, config.trainer, updates_per_epoch=4)
    assert note is not None and note[0] == "model.optimizer.schedule.warmup_updates"
    assert "(8 updates, from trainer.max_epochs: 2 at 4 updates per epoch)" in note[1]
    assert schedule_length_note(config.model, config.trainer, updates_per_epoch=5) is None


@pytest.mark.parametrize("kind", ["linear_warmup_cosine_decay", "polynomial"])
def test_decay_ending_above_its_start_is_an_error(
    project: Project, valid_yaml: str, kind: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    (issue,) = issues_of(
        folder / "exp.yaml", [f"model.optimizer.schedule={{kind: {kind}, end_value: 2.0}}"]
    )
    assert f"exp.yaml:{SCHEDULE_LINE}: model.optimizer.schedule.end_value" in issue
    assert "less than or equal to 1" in issue


def test_negative_lr_scale_is_an_error_at_the_lr_scale_key(
    project: Project, valid_yaml: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    (issue,) = issues_of(folder / "exp.yaml", ["model.optimizer.lr_scale={head: -1.0}"])
    assert ": model.optimizer.lr_scale: " in issue
    assert "lr_scale values must be >= 0 (negative for head)" in issue


def test_an_empty_lr_scale_key_is_an_error_not_a_scale_of_the_whole_model(
    project: Project, valid_yaml: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    (issue,) = issues_of(folder / "exp.yaml", ["model.optimizer.lr_scale={'': 0.1}"])
    assert ": model.optimizer.lr_scale: " in issue
    assert "an empty key matches every parameter" in issue


@pytest.mark.parametrize(
    ("override", "key", "line"),
    [
        ("model.optimizer.lr=.inf", "model.optimizer.lr", 10),
        ("model.optimizer.lr=.nan", "model.optimizer.lr", 10),
        ("model.optimizer.clip_grad_norm=.inf", "model.optimizer", 8),
        ("model.optimizer.lr_scale={width: .inf}", "model.optimizer.lr_scale.width", 8),
        ("model.optimizer.betas=[.nan, 0.9]", "model.optimizer.betas.0", 8),
        ("model.optimizer.schedule={kind: constant, value: .inf}", "schedule.value", 11),
        ("model.optimizer.schedule={kind: step, step_size: 2, gamma: .inf}", "schedule.gamma", 11),
    ],
)
def test_infinite_or_nan_optimizer_and_schedule_numbers_are_errors_at_their_key(
    project: Project, valid_yaml: str, override: str, key: str, line: int
) -> None:
    # an lr of inf passed `gt=0`, and the run failed in its first update with a message about
    # a non-finite gradient
    folder = project(**{"exp.yaml": valid_yaml})
    (issue,) = issues_of(folder / "exp.yaml", [override])
    assert f"exp.yaml:{line}: " in issue and key in issue
    assert "Input should be a finite number" in issue


@pytest.mark.parametrize(
    ("fraction", "total", "warmup"),
    [
        (0.05, 50, 3),  # 2.5: round() gave 2 (halves to even)
        (0.05, 30, 2),  # 1.5
        (0.05, 10, 1),  # 0.5: round() gave no warm-up at all
        (0.25, 10, 3),  # 2.5
        (0.1, 30, 3),  # 3.0000000000000004 in binary floats: still 3
        (0.07, 100, 7),
        (0.0, 10, 0),
    ],
)
def test_warmup_percent_rounds_to_the_nearest_update_halves_up(
    fraction: float, total: int, warmup: int
) -> None:
    config = LinearWarmupCosineDecayScheduleConfig(warmup_percent=fraction)
    assert config.warmup_length(total) == warmup


def test_warmup_percent_of_5_says_it_is_a_fraction(project: Project, valid_yaml: str) -> None:
    # "Input should be less than 1 (got 5)" left a user who read "percent" guessing
    folder = project(**{"exp.yaml": valid_yaml})
    schedule = "model.optimizer.schedule={kind: linear_warmup_cosine_decay, warmup_percent: 5}"
    (issue,) = issues_of(folder / "exp.yaml", [schedule])
    assert f"exp.yaml:{SCHEDULE_LINE}: model.optimizer.schedule.warmup_percent: " in issue
    assert "a fraction of all updates, less than 1 (0.05 for 5%), got 5" in issue


def test_step_schedule_gamma_above_1_is_an_error_at_its_key(
    project: Project, valid_yaml: str
) -> None:
    # gamma 2 validated, and a run of 1100 updates stopped with an OverflowError of 2 ** 1100
    folder = project(**{"exp.yaml": valid_yaml})
    (issue,) = issues_of(
        folder / "exp.yaml", ["model.optimizer.schedule={kind: step, step_size: 1, gamma: 2}"]
    )
    assert f"exp.yaml:{SCHEDULE_LINE}: model.optimizer.schedule.gamma: " in issue
    assert "less than or equal to 1" in issue
