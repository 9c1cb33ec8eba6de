"""Extending a finished run with `--resume` and a raised stop criterion, as a user does it.

Schedules span the whole run, so the longer run stretches the schedule: the run continues,
and says that the learning rate of its next update differs from what the finished run set.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, metrics, noether_train, run_dirs

EPOCH_CHECKPOINTS = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"


def test_raised_stop_criterion_continues_and_warns_that_the_schedule_stretched(
    tmp_path: Path,
) -> None:
    first = noether_train(tmp_path, CONFIG, "trainer.max_epochs=1", EPOCH_CHECKPOINTS)
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    lrs = {row["update"]: row["optim/lr"] for row in metrics(run_dir) if "optim/lr" in row}
    assert lrs[12] == 0.0  # a finished cosine ends at end_value 0

    longer = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=2")
    assert longer.returncode == 0, longer.stderr
    assert "changed since the checkpoint: trainer.max_epochs: 1 -> 2" in longer.stderr
    assert "WARNING" in longer.stderr and "the learning rate of update 13 is 0.00" in longer.stderr
    assert "linear_warmup_cosine_decay schedule" in longer.stderr
    assert "the schedule now spans 24 updates" in longer.stderr
    lrs = {row["update"]: row["optim/lr"] for row in metrics(run_dir) if "optim/lr" in row}
    assert sorted(lrs) == list(range(1, 25))
    assert lrs[13] > 0.004 and lrs[24] == 0.0  # back up, then down to the new end


def test_a_run_started_at_start_at_epoch_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """`trainer.start_at_epoch` places a new run; `--resume` continues from the checkpoint
    (a run started with it was refused: 'start_at_epoch cannot be combined with an
    initializer'), and a config giving both is refused by validation."""
    first = noether_train(
        tmp_path, CONFIG, "trainer.start_at_epoch=1", "trainer.max_epochs=2", EPOCH_CHECKPOINTS
    )
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    assert min(row["update"] for row in metrics(run_dir)) == 13  # epoch 1 of 12 updates each

    longer = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=3")
    assert longer.returncode == 0, longer.stderr
    assert max(row["update"] for row in metrics(run_dir)) == 36

    both = noether_train(
        tmp_path,
        CONFIG,
        "trainer.start_at_epoch=1",
        f"trainer.initializer={{kind: resume, run: {run_dir}}}",
    )
    assert both.returncode == 1
    assert "set start_at_epoch or initializer, not both" in both.stderr
    assert run_dirs(tmp_path) == [run_dir]
