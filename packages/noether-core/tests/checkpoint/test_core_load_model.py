"""`load_model` on checkpoint folders a run can hold besides full checkpoints: one without
weights (refused, naming those with weights) and EMA weights written at an update without a
checkpoint (loaded by their tag, and as the newest EMA when no checkpoint holds one)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from noether.core import load_model
from noether.core.checkpoint import CheckpointError, CheckpointNotFoundError, CheckpointWriter
from noether.core.counters import UpdateCounter
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


def _ema_run(tmp_path: Path, checkpoint_at: set[int]) -> tuple[Path, dict[int, Path]]:
    """A run whose EMA callback wrote weights at updates 1 to 3 and whose checkpoint callback
    wrote the updates in `checkpoint_at` (holding that update's EMA weights too)."""
    provider = PathProvider(tmp_path / "runs", "exp", "run1")
    provider.config_path.write_text(yaml.safe_dump({"model": MODEL}), encoding="utf-8")
    model = make_model(seed=1)
    model.initialize(total_updates=3)
    counter = UpdateCounter(updates_per_epoch=1, effective_batch_size=4, max_epochs=3)
    writer = CheckpointWriter(provider, counter)
    written = {}
    for update in (1, 2, 3):
        counter.add_update()
        counter.add_epoch()
        if update in checkpoint_at:
            writer.save(model, None, counter.tag, save_optim=False, save_trainer=False)
        averaged = {name: value + update for name, value in model.state_dict().items()}
        written[update] = writer.save_object(averaged, counter.tag, "model_ema=0.5.pt")
    return provider.run_dir, written


def _same(model: torch.nn.Module, path: Path) -> bool:
    saved = torch.load(path, weights_only=True)
    return all(torch.equal(value, saved[name]) for name, value in model.state_dict().items())


def test_the_default_ema_weights_are_those_furthest_into_training(tmp_path: Path) -> None:
    """A checkpoint at update 2 holding EMA weights was taken over those written at update 3
    without one; among the latter, the oldest file time won (a copy's order)."""
    run_dir, written = _ema_run(tmp_path, checkpoint_at={2})
    assert _same(load_model(run_dir, ema=0.5), written[3])
    copied = tmp_path / "copy"
    shutil.copytree(run_dir, copied)
    os.utime(copied / "checkpoints/E1_U1_S4/model_ema=0.5.pt")  # copied last
    assert _same(load_model(copied, ema="0.5"), written[3])  # a factor from a command line


def test_a_damaged_newest_checkpoint_is_refused_not_passed_over(tmp_path: Path) -> None:
    """load_model returned the older weights without a word, where --resume refuses."""
    run_dir, _ = _ema_run(tmp_path, checkpoint_at={1, 3})
    (run_dir / "checkpoints/E3_U3_S12/checkpoint.json").write_text("{garbage")
    damaged = "holds checkpoint files without a readable checkpoint.json"
    with pytest.raises(CheckpointError, match=f"checkpoints/E3_U3_S12 {damaged}"):
        load_model(run_dir)
    with pytest.raises(CheckpointError, match=f"checkpoint 'E3_U3_S12' of .* {damaged}"):
        load_model(run_dir, checkpoint="E3_U3_S12/")
    assert _same(
        load_model(run_dir, checkpoint="E1_U1_S4/"), run_dir / "checkpoints/E1_U1_S4/model.pt"
    )


def test_a_missing_path_and_a_checkpoint_folder_are_named_as_such(tmp_path: Path) -> None:
    run_dir, _ = _ema_run(tmp_path, checkpoint_at={1})
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(CheckpointNotFoundError, match=r"pass its run folder and checkpoint="):
        load_model(run_dir / "checkpoints/E1_U1_S4")
    with pytest.raises(ValueError, match=r"ema is the factor of EMA weights, such as 0\.999"):
        load_model(run_dir, ema="last")
