"""Optimizer and schedule values that cannot work are refused by validation, at their key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from noether.config import ConfigError, load_config

Project = Callable[..., Path]

SCHEDULE_LINE = 11  # `schedule:` of VALID_CONFIG (conftest)


def issues_of(path: Path, overrides: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize(
    ("stop", "runs"),
    [("trainer.max_epochs=null", None), ("trainer.max_updates=10", "trainer.max_updates: 10")],
)
def test_warmup_longer_than_the_run_is_an_error_at_its_key(
    project: Project, valid_yaml: str, stop: str, runs: str | None
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    warmup = "model.optimizer.schedule={kind: linear_warmup_cosine_decay, warmup_updates: 50}"
    if runs is None:  # max_samples: 40 samples at 4 per update are 10 updates
        overrides = [stop, "trainer.max_samples=40", warmup]
        runs = "trainer.max_samples: 40"
    else:
        overrides = ["trainer.max_epochs=null", stop, warmup]
    (issue,) = issues_of(folder / "exp.yaml", overrides)
    assert f"exp.yaml:{SCHEDULE_LINE}" in issue
    assert "model.optimizer.schedule.warmup_updates" in issue
    assert f"more than the run has (10 updates, from {runs})" in issue


def test_warmup_as_long_as_the_run_and_epoch_runs_pass_validation(
    project: Project, valid_yaml: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    warmup = "model.optimizer.schedule={kind: linear_warmup_cosine_decay, warmup_updates: 10}"
    load_config(folder / "exp.yaml", ["trainer.max_epochs=null", "trainer.max_updates=10", warmup])
    # in epochs the run's length needs the data's size: left to the run
    longer = "model.optimizer.schedule.warmup_updates=500"
    load_config(folder / "exp.yaml", [warmup, longer])


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
