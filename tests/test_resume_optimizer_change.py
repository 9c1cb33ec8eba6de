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
