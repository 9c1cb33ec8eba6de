"""`load_model` on a run driven from Python (a trainer built and trained in a script): the
run folder has checkpoints but no config to rebuild the model from, so the script passes the
model built as it was trained, and gets the weights by the same rules as `noether-train`'s
runs (newest, by tag, EMA)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from noether.core import load_model
from noether.core.checkpoint import CheckpointError, CheckpointNotFoundError
from noether.core.runs import PathProvider
from noether.core.testing import make_config, make_model, make_trainer, make_two_layer_model

CALLBACKS = [
    {"kind": "checkpoint", "every_n_updates": 2},
    {"kind": "ema", "every_n_updates": 2, "target_factors": [0.9]},
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    provider = PathProvider(tmp_path_factory.mktemp("project") / "runs", "scripted")
    model = make_model(seed=3)
    trainer = make_trainer(make_config(max_updates=4, callbacks=CALLBACKS), path_provider=provider)
    trainer.train(model)
    return provider.run_dir, model


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def test_a_run_driven_from_python_is_loaded_into_the_model_the_script_passes(
    trained: tuple[Path, torch.nn.Module],
) -> None:
    run, model = trained
    with pytest.raises(CheckpointNotFoundError) as error:
        load_model(run)
    assert str(error.value) == (
        f"{run} is not a run folder: it has no config.yaml (a run driven from Python: pass the "
        "model built as it was trained, load_model(run_dir, model=...))"
    )

    loaded = load_model(run, model=make_model(seed=7))
    assert not loaded.training
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name

    epoch_2 = load_model(run, checkpoint="E0_U2_S16", model=make_model(seed=7))
    saved = _weights(run / "checkpoints" / "E0_U2_S16" / "model.pt")
    assert all(torch.equal(epoch_2.state_dict()[k], v) for k, v in saved.items())

    ema = load_model(run, ema=0.9, model=make_model(seed=7))
    saved = _weights(run / "checkpoints" / "E0_U4_S32" / "model_ema=0.9.pt")
    assert all(torch.equal(ema.state_dict()[k], v) for k, v in saved.items())
    assert not all(torch.equal(ema.state_dict()[k], v) for k, v in model.state_dict().items())


def test_a_model_that_does_not_fit_the_weights_is_named_as_the_one_given(
    trained: tuple[Path, torch.nn.Module],
) -> None:
    run, _ = trained
    with pytest.raises(CheckpointError, match=re.escape("does not fit the model given: ")):
        load_model(run, model=make_two_layer_model())
    with pytest.raises(TypeError, match=re.escape("not a noether.core.models.ModelBase")):
        load_model(run, model=torch.nn.Linear(4, 1))  # type: ignore[arg-type]
