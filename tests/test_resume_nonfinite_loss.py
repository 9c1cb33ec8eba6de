"""Non-finite losses and weights as a user meets them through `noether-train`: a NaN loss
right after `--resume` is named by the resumed run's update (not a range from update 1), and
a NaN gradient of a finite loss leaves no checkpoint of NaN weights."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from noether.core import load_model

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, complete_checkpoints, noether_train, run_dirs

NAN_TRAINER = "trainer.kind=resume_configs:NanAtUpdatesMseTrainerConfig"


def test_a_nan_loss_in_the_first_update_after_resume_names_that_update(tmp_path: Path) -> None:
    first = noether_train(
        tmp_path,
        CONFIG,
        NAN_TRAINER,
        "trainer.nan_updates=[3]",
        "trainer.max_epochs=null",
        "trainer.max_updates=2",
    )
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)

    resumed = noether_train(tmp_path, "--resume", run_dir, "trainer.max_updates=4")
    assert resumed.returncode == 1, resumed.stderr
    assert "the loss became NaN or infinite in update 3 (loss/online/mse" in resumed.stderr
    assert "Traceback" not in resumed.stderr
    # the checkpoint of update 3 was not written: the newest holds finite weights
    assert "latest" in complete_checkpoints(run_dir)
    assert '"update": 2' in (run_dir / "checkpoints" / "latest" / "checkpoint.json").read_text()


def test_a_nan_gradient_of_a_finite_loss_leaves_no_checkpoint_of_nan_weights(
    tmp_path: Path,
) -> None:
    """A checkpoint every update; update 2's loss is finite, its gradient NaN: the run stops
    before writing checkpoint 2 (its weights are NaN), and the newest one holds finite ones."""
    done = noether_train(
        tmp_path,
        CONFIG,
        NAN_TRAINER,
        "trainer.nan_gradient_updates=[2]",
        "trainer.max_epochs=null",
        "trainer.max_updates=4",
    )
    assert done.returncode == 1, done.stderr
    assert "the weights became NaN or infinite in update 2" in done.stderr
    assert "Traceback" not in done.stderr
    (run_dir,) = run_dirs(tmp_path)
    assert '"update": 1' in (run_dir / "checkpoints" / "latest" / "checkpoint.json").read_text()
    model = load_model(run_dir)
    assert all(torch.isfinite(param).all() for param in model.parameters())
