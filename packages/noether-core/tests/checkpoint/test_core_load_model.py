"""`load_model` on checkpoint folders a run can hold besides full checkpoints: one without
weights (refused, naming those with weights) and EMA weights written at an update without a
checkpoint (loaded by their tag, and as the newest EMA when no checkpoint holds one)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from noether.core import load_model
from noether.core.checkpoint import CheckpointNotFoundError, CheckpointWriter
from noether.core.runs import PathProvider
from noether.core.testing import make_model

MODEL = {"kind": "noether.core.testing.models:LinearModelConfig", "in_dim": 4}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    provider = PathProvider(tmp_path / "runs", "exp", "run1")
    provider.config_path.write_text(yaml.safe_dump({"model": MODEL}), encoding="utf-8")
    model = make_model(seed=1)
    model.initialize(total_updates=4)
    writer = CheckpointWriter(provider)
    writer.save(model, None, "optim_only", save_weights=False, save_trainer=False)
    writer.save(model, None, "weights", save_optim=False, save_trainer=False)
    averaged = {name: value + 1.0 for name, value in model.state_dict().items()}
    writer.save_object(averaged, "E2_U2_S8", "model_ema=0.5.pt")
    return provider.run_dir


def test_a_checkpoint_without_weights_is_refused_naming_those_with_weights(run_dir: Path) -> None:
    with pytest.raises(CheckpointNotFoundError) as error:
        load_model(run_dir, checkpoint="optim_only")
    assert str(error.value) == (
        f"checkpoint 'optim_only' of {run_dir} holds no weights (model.pt) "
        "(checkpoints that do: weights)"
    )
    saved = torch.load(run_dir / "checkpoints/weights/model.pt", weights_only=True)
    loaded = load_model(run_dir)  # the newest checkpoint with weights
    assert not loaded.training
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, saved[name])


def test_ema_weights_written_without_a_checkpoint_load_by_tag_and_by_default(
    run_dir: Path,
) -> None:
    saved = torch.load(run_dir / "checkpoints/E2_U2_S8/model_ema=0.5.pt", weights_only=True)
    for model in (load_model(run_dir, "E2_U2_S8", ema=0.5), load_model(run_dir, ema=0.5)):
        for name, value in model.state_dict().items():
            assert torch.equal(value, saved[name])
    with pytest.raises(CheckpointNotFoundError, match=r"EMA factors written: 0\.5"):
        load_model(run_dir, ema=0.9)
