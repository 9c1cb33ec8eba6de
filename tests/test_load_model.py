"""Using a trained model: `noether.core.load_model` on a finished `noether-train` run.

The run is trained in a subprocess; the model is loaded in a fresh one, from another working
directory, after the project folder (run folders inside it) was moved. Its outputs must equal
those of the model class given the checkpoint file's state dict: the latest weights, a tagged
epoch, the best checkpoint and the EMA weights; a best checkpoint chosen by an EMA metric
holds the EMA weights that scored. Errors name the run, the checkpoint and what
exists instead.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
# the project's own modules are imported in subprocesses only: their schemas would add kinds
# to this process's registry, which later tests list
from resume_testing import PROJECT, environment, metrics, noether_train, run_dirs

CALLBACKS = (
    "trainer.callbacks=["
    "{kind: ema, every_n_epochs: 1, target_factors: [0.9]},"
    "{kind: offline_loss, every_n_epochs: 1, dataset_key: train},"
    "{kind: offline_loss, every_n_epochs: 1, dataset_key: train, ema_factor: 0.9},"
    "{kind: best_checkpoint, every_n_epochs: 1, metric_key: loss/train/total},"
    "{kind: best_checkpoint, every_n_epochs: 1, metric_key: loss/train/ema0.9/total},"
    "{kind: checkpoint, every_n_epochs: 1}]"
)
NO_NOISE = "datasets.train.noise=0.0"  # the same loss each time the data is evaluated

LOAD = """
import json, sys, torch
from noether.core import load_model
requests, out = json.loads(sys.argv[1]), sys.argv[2]
outputs, errors = {}, {}
for name, (run, kwargs) in requests.items():
    try:
        model = load_model(run, **kwargs)
    except Exception as error:
        errors[name] = f"{type(error).__name__}: {error}"
        continue
    assert not model.training and model.optimizer is None
    from resume_runtime import FEATURES  # found where load_model found the model's module
    with torch.no_grad():
        outputs[name] = model(torch.linspace(-1.0, 1.0, 5 * FEATURES).reshape(5, FEATURES))
torch.save(outputs, out)
print(json.dumps(errors))
"""

REFERENCE = """
import json, sys, torch
from resume_configs import MlpModelConfig
from resume_runtime import FEATURES, Mlp
weights, out = json.loads(sys.argv[1]), sys.argv[2]
outputs = {}
for name, path in weights.items():
    model = Mlp(MlpModelConfig(dropout=0.1))
    model.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        outputs[name] = model.eval()(torch.linspace(-1.0, 1.0, 5 * FEATURES).reshape(5, FEATURES))
torch.save(outputs, out)
"""


@pytest.fixture(scope="module")
def moved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch run (dropout on) trained in a project folder that was then moved."""
    root = tmp_path_factory.mktemp("load_model")
    project = root / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    result = noether_train(
        project, project / "experiment.yaml", "trainer.max_epochs=2", NO_NOISE, CALLBACKS
    )
    assert result.returncode == 0, result.stderr
    moved = root / "moved_project"
    project.rename(moved)  # the user's modules are found next to the run's config again
    (run_dir,) = run_dirs(moved)
    return run_dir


REQUESTS = {
    "latest": {},
    "E1": {"checkpoint": "E1_U12_S96"},
    "best": {"checkpoint": "best_loss.train.total"},
    "ema": {"ema": 0.9},
    "ema_E1": {"checkpoint": "E1_U12_S96", "ema": 0.9},
    "best_ema": {"checkpoint": "best_loss.train.ema0.9.total", "ema": 0.9},
    "unknown_tag": {"checkpoint": "E9_U99_S999"},
    "no_latest_folder": {"checkpoint": "latest"},
    "unwritten_factor": {"ema": 0.5},
    "best_without_ema": {"checkpoint": "best_loss.train.total", "ema": 0.9},
}


@pytest.fixture(scope="module")
def loaded(
    moved_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Outputs and error messages of load_model in one fresh process started elsewhere
    (not in the project, nothing on PYTHONPATH)."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    requests = {name: [str(moved_run), kwargs] for name, kwargs in REQUESTS.items()}
    requests["not_a_run"] = [str(moved_run.parent), {}]
    out = cwd / "outputs.pt"
    result = subprocess.run(
        [sys.executable, "-c", LOAD, json.dumps(requests), str(out)],
        cwd=cwd,
        env={**environment(), "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return torch.load(out, weights_only=True), json.loads(result.stdout)


def _references(project: Path, weights: dict[str, Path], out: Path) -> dict[str, torch.Tensor]:
    """The model class given each file's state dict, in eval mode (dropout off)."""
    paths = json.dumps({name: str(path) for name, path in weights.items()})
    result = subprocess.run(
        [sys.executable, "-c", REFERENCE, paths, str(out)],
        cwd=project,
        env={**environment(), "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return torch.load(out, weights_only=True)  # type: ignore[no-any-return]


def test_load_model_gives_each_checkpoints_weights_in_eval_mode(
    tmp_path: Path, moved_run: Path, loaded: tuple[dict[str, torch.Tensor], dict[str, str]]
) -> None:
    checkpoints = moved_run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "E1_U12_S96",
        "E2_U24_S192",
        "best_loss.train.ema0.9.total",
        "best_loss.train.total",
    ]
    outputs, errors = loaded
    assert set(outputs) == {"latest", "E1", "best", "ema", "ema_E1", "best_ema"}, errors
    expected = {
        "latest": checkpoints / "E2_U24_S192" / "model.pt",  # the default: the newest one
        "E1": checkpoints / "E1_U12_S96" / "model.pt",
        "best": checkpoints / "best_loss.train.total" / "model.pt",
        "ema": checkpoints / "E2_U24_S192" / "model_ema=0.9.pt",
        "ema_E1": checkpoints / "E1_U12_S96" / "model_ema=0.9.pt",
    }
    best_update = json.loads(
        (checkpoints / "best_loss.train.ema0.9.total" / "checkpoint.json").read_text()
    )["update"]
    tagged = {12: "E1_U12_S96", 24: "E2_U24_S192"}[best_update]
    # the EMA weights that reached the best EMA loss, not the trained weights of that update
    expected["best_ema"] = checkpoints / tagged / "model_ema=0.9.pt"
    references = _references(moved_run.parents[2], expected, tmp_path / "references.pt")
    for name in expected:
        torch.testing.assert_close(outputs[name], references[name], rtol=0, atol=0)
    assert not torch.equal(outputs["ema"], outputs["latest"])
    assert not torch.equal(outputs["E1"], outputs["latest"])


def test_load_model_errors_name_the_run_the_checkpoint_and_what_exists(
    moved_run: Path, loaded: tuple[dict[str, torch.Tensor], dict[str, str]]
) -> None:
    errors = loaded[1]
    assert errors["unknown_tag"].startswith("CheckpointNotFoundError")
    assert f"{moved_run} has no complete checkpoint 'E9_U99_S999'" in errors["unknown_tag"]
    assert "E1_U12_S96, E2_U24_S192, best_loss.train.ema0.9.total" in errors["unknown_tag"]
    assert "has no complete checkpoint 'latest'" in errors["no_latest_folder"]
    assert "EMA weights of factor 0.5 (model_ema=0.5.pt)" in errors["unwritten_factor"]
    assert "EMA factors written: 0.9" in errors["unwritten_factor"]
    message = errors["best_without_ema"]
    assert "'best_loss.train.total'" in message and "holds no EMA weights of factor 0.9" in message
    assert "checkpoints that do: E1_U12_S96, E2_U24_S192, best_loss.train.ema0.9.total" in message
    assert f"{moved_run.parent} is not a run folder" in errors["not_a_run"]


def test_an_evaluation_only_run_of_the_ema_weights_logs_what_training_logged(
    tmp_path: Path, moved_run: Path
) -> None:
    """`offline_loss` with `ema_factor` in training and an evaluation-only run (max_epochs: 0)
    of the written EMA weights give the same loss: what was evaluated is what was saved."""
    weights = moved_run / "checkpoints" / "E2_U24_S192" / "model_ema=0.9.pt"
    config = moved_run.parents[2] / "experiment.yaml"
    result = noether_train(
        tmp_path,
        config,
        "trainer.max_epochs=0",
        NO_NOISE,
        f"trainer.initializer={{kind: checkpoint, path: '{weights}'}}",
        "trainer.callbacks=[{kind: offline_loss, every_n_epochs: 1, dataset_key: train}]",
    )
    assert result.returncode == 0, result.stderr
    (evaluated,) = [row for row in metrics(run_dirs(tmp_path)[0]) if "loss/train/total" in row]
    (trained,) = [
        row for row in metrics(moved_run) if row["update"] == 24 and "loss/train/total" in row
    ]
    assert evaluated["loss/train/total"] == pytest.approx(
        trained["loss/train/ema0.9/total"], rel=1e-6
    )
    assert trained["loss/train/ema0.9/total"] != trained["loss/train/total"]
