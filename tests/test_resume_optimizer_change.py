"""`noether-train --resume --force` with another optimizer kind, as a user switches optimizers.

The resume check refuses the change unless forced; forced, the new optimizer starts afresh:
another optimizer's state (SGD's momentum buffers, Adam's moments and step counts) means
nothing to it, and loading it crashed AdamW on SGD's state (`KeyError: 'step'`). An optimizer
state that fails to load names the resume and its checkpoint, not update 0 (not restored yet).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, UPDATES_PER_EPOCH, noether_train, run_dirs

from noether.core.checkpoint import CheckpointWriter

ONE_EPOCH = "trainer.max_epochs=1"


def test_a_forced_optimizer_change_starts_the_new_optimizer_afresh(tmp_path: Path) -> None:
    first = noether_train(
        tmp_path, CONFIG, ONE_EPOCH, "model.optimizer={kind: sgd, lr: 0.01, momentum: 0.9}"
    )
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)

    adamw = "model.optimizer={kind: adamw, lr: 0.01}"
    refused = noether_train(tmp_path, "--resume", run_dir, adamw, "trainer.max_epochs=2")
    assert refused.returncode == 1 and "model.optimizer.kind" in refused.stderr, refused.stderr

    resumed = noether_train(tmp_path, "--resume", run_dir, "--force", adamw, "trainer.max_epochs=2")
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert "the optimizer changed since checkpoint latest (sgd -> adamw)" in resumed.stderr
    optim = CheckpointWriter.load(run_dir)["optim"]
    steps = {float(state["step"]) for state in optim["state"].values()}
    assert steps == {float(UPDATES_PER_EPOCH)}  # the resumed epoch's updates only
    assert not any("momentum_buffer" in state for state in optim["state"].values())


def test_a_failure_while_the_resume_is_applied_names_the_checkpoint_not_update_0(
    tmp_path: Path,
) -> None:
    first = noether_train(tmp_path, CONFIG, ONE_EPOCH)
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    optim_file = run_dir / "checkpoints" / "latest" / "optim.pt"
    optim = torch.load(optim_file, weights_only=True)
    del optim["param_groups"][0]["params"]  # an optimizer state that torch cannot load
    torch.save(optim, optim_file)

    resumed = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=2")
    assert resumed.returncode == 1
    expected = f"resuming {run_dir} from checkpoint 'latest' (update {UPDATES_PER_EPOCH}) failed"
    assert f"{expected}: KeyError: 'params'" in resumed.stderr, resumed.stderr
    assert "after update 0" not in resumed.stderr


TWO_LAYER = "model={kind: 'resume_configs:TwoLayerModelConfig', optimizer: {kind: adamw, lr: 0.01}}"


def test_a_model_with_reordered_layers_resumes_with_each_parameters_own_state(
    tmp_path: Path,
) -> None:
    """torch maps optimizer state by position: reordered modules got another layer's
    moments and failed at the first update (`The size of tensor a (3) must match ...`)."""
    first = noether_train(tmp_path, CONFIG, ONE_EPOCH, TWO_LAYER)
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    before = CheckpointWriter.load(run_dir)["optim"]["state"]

    reordered = "model.head_first=true"
    resumed = noether_train(
        tmp_path, "--resume", run_dir, "--force", reordered, "trainer.max_epochs=2"
    )
    assert resumed.returncode == 0, resumed.stderr
    after = CheckpointWriter.load(run_dir)
    names = [name for group in after["optim"]["param_groups"] for name in group["param_names"]]
    assert names.index("head.weight") < names.index("hidden.weight")
    for position, name in enumerate(names):
        state = after["optim"]["state"][position]
        assert state["exp_avg"].shape == after["model"][name].shape, name
        assert float(state["step"]) == 2 * UPDATES_PER_EPOCH
    assert len(before) == len(names)


def test_an_optimizer_state_kept_for_another_shape_is_refused_naming_the_parameter(
    tmp_path: Path,
) -> None:
    first = noether_train(tmp_path, CONFIG, ONE_EPOCH, TWO_LAYER)
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    optim_file = run_dir / "checkpoints" / "latest" / "optim.pt"
    optim = torch.load(optim_file, weights_only=True)
    for group in optim["param_groups"]:  # an optimizer that does not name its parameters
        del group["param_names"]
    weight_id, bias_id = (
        optim["param_groups"][0]["params"][0],
        optim["param_groups"][1]["params"][0],
    )
    optim["state"][weight_id], optim["state"][bias_id] = (
        optim["state"][bias_id],
        optim["state"][weight_id],
    )
    torch.save(optim, optim_file)

    resumed = noether_train(tmp_path, "--resume", run_dir, "--force", "trainer.max_epochs=2")
    assert resumed.returncode == 1
    assert "Traceback" not in resumed.stderr
    assert "its optimizer state of parameter 'hidden.weight'" in resumed.stderr, resumed.stderr
    assert "of shape (3,), but this model's has shape (3, 4)" in resumed.stderr
    assert "training failed" not in resumed.stderr
