"""A NaN loss right after `--resume`: the stop names the resumed run's update, not a range
from update 1 (the non-finite checks start reading where the run starts)."""

from __future__ import annotations

import sys
from pathlib import Path

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
