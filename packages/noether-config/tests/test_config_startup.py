"""What `noether-config validate` start-up relies on: shared defaults, lazy builds, the gc, and
the switch of the start-up tricks."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from noether.config import startup
from noether.config.cli import main
from noether.config.schemas import SGDConfig, WeightedLossTrainerConfig
from noether.config.schemas.callbacks import BestCheckpointCallbackConfig

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "examples" / "quickstart" / "config.yaml"

# Prints the models whose validator exists after validating QUICKSTART in a fresh process.
BUILT_MODELS = """
import json, sys
from pydantic import BaseModel
from noether.config.loader import load_config

load_config(sys.argv[1])

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

print(json.dumps(sorted(
    {c.__qualname__ for c in subclasses(BaseModel) if c.__pydantic_complete__}
)))
"""


def test_mutable_defaults_are_not_shared_between_configs() -> None:
    first = WeightedLossTrainerConfig(max_epochs=1, effective_batch_size=2, field_weights={"p": 1})
    second = WeightedLossTrainerConfig(max_epochs=1, effective_batch_size=2, field_weights={"p": 1})
    first.forward_properties.append("x")
    first.target_properties.append("y")
    first.callbacks.append(BestCheckpointCallbackConfig(metric_key="m", every_n_epochs=1))
    assert (second.forward_properties, second.target_properties, second.callbacks) == ([], [], [])

    tolerances = BestCheckpointCallbackConfig(metric_key="m", every_n_epochs=1)
    tolerances.tolerances.append(5.0)
    assert BestCheckpointCallbackConfig(metric_key="m", every_n_epochs=1).tolerances == []

    optimizer = SGDConfig(lr=0.1)
    optimizer.lr_scale["bias"] = 0.0
    assert SGDConfig(lr=0.1).lr_scale == {}


def test_validate_builds_only_the_models_the_config_uses() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BUILT_MODELS, str(QUICKSTART)],
        capture_output=True,
        text=True,
        cwd=QUICKSTART.parent,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == sorted(
        [
            "AdamWConfig",
            "CheckpointCallbackConfig",
            "ExperimentConfig",
            "LinearWarmupCosineDecayScheduleConfig",
            "OfflineLossCallbackConfig",
            "SphereFlowDatasetConfig",
            "SphereFlowModelConfig",
            "TensorboardTrackerConfig",
            "WeightedLossTrainerConfig",
        ]
    )


def test_main_called_in_process_leaves_the_garbage_collector_as_it_was(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["noether-config", "validate", str(QUICKSTART)])
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    assert "ok: " in capsys.readouterr().out
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


@pytest.mark.parametrize(
    ("switch", "on"),
    [
        ("", {"gc", "plugins", "docstrings"}),
        ("plain", set()),
        ("gc", {"plugins", "docstrings"}),
        ("docstrings, plugins", {"gc"}),
    ],
)
def test_the_switch_turns_tricks_off_by_name_or_all(
    switch: str, on: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(startup.SWITCH, switch)
    assert {trick for trick in startup.TRICKS if startup.enabled(trick)} == on


FIELD_DOCS_AFTER_VALIDATE = (
    "import sys\n"
    "from noether.config.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "from noether.config.schemas import ExperimentConfig\n"
    "print(str(ExperimentConfig.model_fields['seed'].description).splitlines()[0])\n"
)


@pytest.mark.parametrize(("switch", "description"), [("", "None"), ("docstrings", "Seed of")])
def test_a_validate_process_reads_no_field_docstrings_unless_switched_off(
    switch: str, description: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FIELD_DOCS_AFTER_VALIDATE, "validate", str(QUICKSTART)],
        capture_output=True,
        text=True,
        env={**os.environ, startup.SWITCH: switch},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(description)
