"""check_targets: what `noether-train` and `--dry-run` import before anything is built; here
the losses of `LossName` fields, which validation reads without importing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import Field

from noether.config import BaseTrainerConfig, CallbackConfig, ExperimentConfig
from noether.config.losses import LossName
from noether.core.targets import MissingImplementationError, check_targets
from noether.core.testing.models import LinearModelConfig


class OwnLossTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """A trainer of one's own that names its loss, as docs/writing-a-trainer.md shows."""

    kind: str = "core_targets_test_own_loss"
    target: ClassVar[str] = "noether.core.testing.trainers:MseTrainer"
    loss_fn: LossName = Field(default="core_targets_losses:gentle", validate_default=True)
    """The loss."""


def experiment(loss_fn: str) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "name": "targets",
            "datasets": {},
            "model": {"kind": LinearModelConfig().kind, "optimizer": {"kind": "sgd", "lr": 0.1}},
            "trainer": {
                "kind": "core_targets_test_own_loss",
                "max_updates": 0,
                "effective_batch_size": 2,
                "loss_fn": loss_fn,
            },
        }
    )


@pytest.fixture
def losses_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module of losses on sys.path: it validates (the file is there) whatever it holds."""
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "core_targets_losses.py"
    module.write_text("def gentle(input, target):\n    return (input - target).mean()\n")
    yield module
    sys.modules.pop("core_targets_losses", None)


def test_a_loss_whose_module_raises_at_import_is_named_at_its_field(losses_module: Path) -> None:
    config = experiment("core_targets_losses:gentle")
    assert check_targets(config) == 4  # model, optimizer, trainer and tracker
    del sys.modules["core_targets_losses"]  # as a fresh process finds it
    losses_module.write_text("raise RuntimeError('no licence server')\ndef gentle(): ...\n")
    with pytest.raises(MissingImplementationError) as info:
        check_targets(config)
    assert str(info.value).splitlines()[1] == (
        "  trainer.loss_fn: cannot import loss 'core_targets_losses:gentle': "
        "RuntimeError: no licence server"
    )


def test_a_loss_that_is_no_callable_is_named_at_its_field(losses_module: Path) -> None:
    losses_module.write_text("gentle = 3\n")
    with pytest.raises(MissingImplementationError) as info:
        check_targets(experiment("core_targets_losses:gentle"))
    assert "trainer.loss_fn: loss 'core_targets_losses:gentle' names an int, not a" in str(
        info.value
    )
