"""A callback that will not run before the end of training is named in a note.

A checkpoint every 20 epochs in a 5-epoch run, or an early stopper at an epoch past
max_epochs, trained to the end and wrote nothing, without a word: the run looked fine and
had no checkpoint to resume from. `noether-config validate` and `noether-train` now name
the callback's key and line before training. A note, not an error: shortening a run on the
command line (`trainer.max_epochs=3`, as the seed document shows) is how users try a config.
A stop point at or before start_at_epoch is an error: the run could train nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "quickstart" / "config.yaml"
BIN = Path(sys.executable).parent


def run(tmp_path: Path, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / tool), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_config(tmp_path: Path, callback: str, stop: str) -> Path:
    """The quickstart (copied: files may only extend files beside them) with one callback."""
    shutil.copytree(CONFIG.parent, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "exp.yaml"
    unset = "# max_epochs as given" if stop.startswith("max_epochs") else "max_epochs: null"
    path.write_text(
        f"extends: config.yaml\ntrainer:\n  {unset}\n  {stop}\n  callbacks:\n    - {callback}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("stop", "callback", "message"),
    [
        (
            "max_epochs: 5",
            "{kind: checkpoint, every_n_epochs: 20}",
            "trainer.callbacks.0.every_n_epochs: 20 is after the last epoch of training "
            "(epoch 5, from trainer.max_epochs: 5), so this checkpoint callback will not run in "
            "this run",
        ),
        (
            "max_epochs: 3",
            "{kind: fixed_early_stopper, stop_at_epoch: 4}",
            "trainer.callbacks.0.stop_at_epoch: 4 is after the last epoch",
        ),
        (  # 10 updates of 32 samples: sample 320 is the last
            "max_updates: 10",
            "{kind: checkpoint, every_n_samples: 321, batch_size: 8}",
            "trainer.callbacks.0.every_n_samples: 321 is after the last sample of training "
            "(sample 320, from trainer.max_updates: 10)",
        ),
        (  # 100 samples take 4 updates of 32
            "max_samples: 100",
            "{kind: ema, every_n_updates: 5, target_factors: [0.9]}",
            "trainer.callbacks.0.every_n_updates: 5 is after the last update of training "
            "(update 4, from trainer.max_samples: 100), so this ema callback writes no weights "
            "file in this run (its averages are kept, and evaluated, all the same)",
        ),
        (  # trained nothing: "the run already stopped at E3_U..."
            "max_epochs: 5\n  start_at_epoch: 3",
            "{kind: fixed_early_stopper, stop_at_epoch: 3}",
            "trainer.callbacks.0.stop_at_epoch: 3 is not after trainer.start_at_epoch (3), so "
            "this fixed_early_stopper callback would act before the first update",
        ),
    ],
    ids=["epochs", "stopper", "samples_of_updates", "updates_of_samples", "stop_before_start"],
)
def test_validate_names_a_callback_that_would_never_run(
    tmp_path: Path, stop: str, callback: str, message: str
) -> None:
    config = write_config(tmp_path, callback, stop)
    done = run(tmp_path, "noether-config", "validate", str(config))
    assert "Traceback" not in done.stdout + done.stderr
    line = 6 + stop.count("\n")  # the callback's line
    if "start_at_epoch" in stop:  # an error
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"exp.yaml:{line}: {message}" in done.stdout, done.stdout
    else:  # valid, with a note
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"note: {config}:{line}: {message}" in done.stdout, done.stdout
        github = run(tmp_path, "noether-config", "validate", "--format", "github", str(config))
        assert github.returncode == 0
        assert github.stdout.startswith(f"::warning file={config},line={line},")


@pytest.mark.parametrize(
    ("stop", "callback"),
    [
        ("max_updates: 10", "{kind: checkpoint, every_n_samples: 320, batch_size: 8}"),
        ("max_samples: 100", "{kind: ema, every_n_updates: 4, target_factors: [0.9]}"),
        ("max_epochs: 3", "{kind: fixed_early_stopper, stop_at_epoch: 3}"),
        # epochs meet updates by the data's size: left to the run
        ("max_epochs: 1", "{kind: checkpoint, every_n_updates: 1000}"),
    ],
)
def test_a_callback_due_at_the_last_point_is_valid(
    tmp_path: Path, stop: str, callback: str
) -> None:
    config = write_config(tmp_path, callback, stop)
    done = run(tmp_path, "noether-config", "validate", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note:" not in done.stdout


def test_train_names_it_and_trains_the_shortened_run(tmp_path: Path) -> None:
    """The seed's way to shorten a run: the checkpoint every 20 epochs will not run in 1."""
    done = run(
        tmp_path,
        "noether-train",
        str(CONFIG),
        "trainer.max_epochs=1",
        "datasets.train.num_samples=64",
        "datasets.val.num_samples=32",
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "note: " in done.stderr
    assert "trainer.callbacks.1.every_n_epochs: 20 is after the last epoch" in done.stderr
    (run_dir,) = (tmp_path / "runs" / "quickstart").iterdir()
    assert not (run_dir / "checkpoints").exists() or not any((run_dir / "checkpoints").iterdir())


def test_train_names_callbacks_in_units_that_meet_only_by_the_data_size(tmp_path: Path) -> None:
    """A checkpoint every 1000 updates in a 1-epoch run: `validate` cannot tell (the number of
    updates in an epoch is the data's), the run can once its datasets are built; what the
    config already told is not said twice."""
    done = run(
        tmp_path,
        "noether-train",
        str(CONFIG),
        "trainer.max_epochs=1",
        "datasets.train.num_samples=64",  # 2 updates of 32
        "datasets.val.num_samples=32",
        "trainer.callbacks=[{kind: checkpoint, every_n_updates: 1000},"
        " {kind: checkpoint, every_n_epochs: 20}, {kind: checkpoint, every_n_updates: 2},"
        " {kind: checkpoint, every_n_samples: 65, batch_size: 32}]",
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "note: trainer.callbacks.0.every_n_updates: 1000 is after the last update of training "
        "(update 2, from trainer.max_epochs: 1 at 2 updates per epoch), so this checkpoint "
        "callback will not run in this run"
    ) in done.stderr
    assert done.stderr.count("trainer.callbacks.1.every_n_epochs: 20 is after") == 1
    assert "trainer.callbacks.2." not in done.stderr  # due at the last update
    assert "trainer.callbacks.3.every_n_samples: 65 is after the last sample" in done.stderr
    (run_dir,) = (tmp_path / "runs" / "quickstart").iterdir()
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["E1_U2_S64"]


def test_a_track_or_log_interval_longer_than_the_run_is_noted(tmp_path: Path) -> None:
    """Tracked every 50 epochs in a run of 6: a NaN loss trained on to the end unnoticed, and
    no progress line was printed, without a word."""
    shutil.copytree(CONFIG.parent, tmp_path, dirs_exist_ok=True)
    done = run(
        tmp_path,
        "noether-config",
        "validate",
        "config.yaml",
        "trainer.max_epochs=6",
        "trainer.track_every_n_epochs=50",
        "trainer.log_every_n_epochs=50",
    )
    assert done.returncode == 0, done.stdout
    assert (
        "trainer.track_every_n_epochs: 50 is after the last epoch of training (epoch 6, from "
        "trainer.max_epochs: 6): nothing is tracked before the run's end, and a NaN loss is "
        "found only then"
    ) in done.stdout, done.stdout
    assert "trainer.log_every_n_epochs: 50 is after the last epoch of training" in done.stdout


def test_a_run_that_ends_between_two_checkpoints_is_noted(tmp_path: Path) -> None:
    """A checkpoint every 2 epochs of 5: the final weights, which the printed final losses
    describe, were on no disk, without a word."""
    config = write_config(tmp_path, "{kind: checkpoint, every_n_epochs: 2}", "max_epochs: 5")
    done = run(tmp_path, "noether-config", "validate", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"note: {config}:6: trainer.callbacks.0.every_n_epochs: the run ends at epoch 5 (from "
        "trainer.max_epochs: 5), after this checkpoint callback's last one at epoch 4: the "
        "final weights, which the run's last losses describe, are not written"
    ) in done.stdout, done.stdout
    divides = write_config(tmp_path, "{kind: checkpoint, every_n_epochs: 5}", "max_epochs: 5")
    assert "note:" not in run(tmp_path, "noether-config", "validate", str(divides)).stdout
