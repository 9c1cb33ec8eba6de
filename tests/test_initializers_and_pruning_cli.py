"""Starting runs from other runs' checkpoints, and pruning checkpoints, as a user runs them.

A new run from a checkpoint (`trainer.initializer`) trains with the optimizer settings of its
own config; bad input is a message without a traceback and leaves the earlier run as it was.
`keep_last` deletes whole checkpoint folders (EMA weights too) and never a checkpoint that
another checkpoint callback keeps; two callbacks due at one update keep the fuller checkpoint.
Folders of EMA weights alone are pruned by the ema callback's own `keep_last`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, complete_checkpoints, metrics, noether_train, run_dirs

from noether.core.checkpoint import CheckpointWriter

RESUMABLE_AT_2 = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 2, save_optim: true}]"
NO_CALLBACKS = "trainer.callbacks=[]"


def _files(run_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in run_dir.rglob("*")}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of 2 epochs with a resumable checkpoint at its end."""
    cwd = tmp_path_factory.mktemp("source")
    result = noether_train(cwd, CONFIG, "trainer.max_epochs=2", RESUMABLE_AT_2)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(cwd)
    return run_dir


def _from_source(tmp_path: Path, source: Path, *args: str) -> tuple[int, str, Path | None]:
    initializer = f"trainer.initializer={{kind: resume, run: {source}, checkpoint: E2_U24_S192}}"
    tmp_path.mkdir(exist_ok=True)
    result = noether_train(tmp_path, CONFIG, "trainer.max_epochs=3", initializer, *args)
    dirs = run_dirs(tmp_path)
    return result.returncode, result.stderr, dirs[0] if dirs else None


def test_a_run_started_from_a_checkpoint_trains_with_its_own_learning_rate(
    tmp_path: Path, source: Path
) -> None:
    before = _files(source)
    at_3 = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 3, save_optim: true}]"
    code, stderr, same = _from_source(tmp_path / "same", source, at_3)
    assert code == 0, stderr
    code, stderr, lower = _from_source(tmp_path / "lower", source, at_3, "model.optimizer.lr=0.001")
    assert code == 0, stderr
    assert same is not None and lower is not None
    rates = {row["update"]: row["optim/lr"] for row in metrics(same) if "optim/lr" in row}
    lowered = {row["update"]: row["optim/lr"] for row in metrics(lower) if "optim/lr" in row}
    assert rates.keys() == lowered.keys() and min(rates) > 24
    for update, rate in rates.items():
        assert lowered[update] == pytest.approx(rate / 10, rel=1e-6), update
    optim = CheckpointWriter.load(lower, "E3_U36_S288")["optim"]
    assert {group["base_lr"] for group in optim["param_groups"]} == {0.001}
    assert _files(source) == before


def test_a_checkpoint_whose_parameters_are_grouped_otherwise_gives_each_its_own_state(
    tmp_path: Path, source: Path
) -> None:
    """Weight decay on every parameter puts them in one group where the checkpoint had two:
    torch refused the state ("a different number of parameter groups"), --force too."""
    before = _files(source)
    at_3 = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 3, save_optim: true}]"
    code, stderr, run_dir = _from_source(
        tmp_path, source, "model.optimizer.exclude_bias_and_norm_from_wd=false", at_3
    )
    assert code == 0, stderr
    assert "parameter groups changed since the checkpoint (2 -> 1 groups" in stderr
    stored = CheckpointWriter.load(source, "E2_U24_S192")["optim"]
    resumed = CheckpointWriter.load(run_dir, "E3_U36_S288")["optim"]
    (group,) = resumed["param_groups"]
    assert sorted(group["param_names"]) == sorted(
        name for saved in stored["param_groups"] for name in saved["param_names"]
    )
    steps = {int(state["step"]) for state in resumed["state"].values()}
    assert steps == {36}  # each parameter's moments went on from update 24, none restarted
    assert _files(source) == before


def test_a_file_that_is_no_checkpoint_is_named_without_a_traceback(
    tmp_path: Path, source: Path
) -> None:
    not_weights = source / "config.yaml"
    initializer = f"trainer.initializer={{kind: checkpoint, path: {not_weights}}}"
    result = noether_train(tmp_path, CONFIG, initializer, NO_CALLBACKS)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{not_weights}: cannot be read as a checkpoint file" in result.stderr


def test_a_path_to_a_run_folder_names_the_checkpoints_in_it(tmp_path: Path, source: Path) -> None:
    initializer = f"trainer.initializer={{kind: checkpoint, path: {source}}}"
    result = noether_train(tmp_path, CONFIG, initializer, NO_CALLBACKS)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"no weights file {source / 'model.pt'}" in result.stderr
    assert f"checkpoints with weights in {source / 'checkpoints'}: E2_U24_S192" in result.stderr
    assert run_dirs(tmp_path) == []  # checked before the run folder is made


def test_weights_that_do_not_fit_the_model_are_refused_by_the_dry_run_and_the_run(
    tmp_path: Path, source: Path
) -> None:
    """A model made narrower since: the dry run loads the weights as the run would, so it
    fails there, with the parameters and shapes on one line, not torch's list."""
    initializer = (
        f"trainer.initializer={{kind: checkpoint, path: {source / 'checkpoints'}/E2_U24_S192}}"
    )
    args = (CONFIG, initializer, "model.hidden=8", NO_CALLBACKS)
    dry = noether_train(tmp_path, *args, "--dry-run")
    assert dry.returncode == 1, dry.stdout
    assert run_dirs(tmp_path) == []
    real = noether_train(tmp_path, *args)
    assert real.returncode == 1
    for stderr in (dry.stderr, real.stderr):
        assert "Traceback" not in stderr
        assert "E2_U24_S192/model.pt do not fit this model (was the model changed?): " in stderr
        assert "net.0.weight: shape (16, 4) stored, (8, 4) now;" in stderr, stderr
        assert "size mismatch" not in stderr
    fits = noether_train(tmp_path, CONFIG, initializer, NO_CALLBACKS, "--dry-run")
    assert fits.returncode == 0, fits.stderr
    weights = source / "checkpoints" / "E2_U24_S192" / "model.pt"
    assert f"  initial weights: 4 of the model's 4 tensors from {weights}\n" in fits.stdout


def test_keep_last_deletes_whole_folders_and_spares_another_callbacks_checkpoint(
    tmp_path: Path,
) -> None:
    callbacks = (
        "trainer.callbacks=["
        "{kind: ema, target_factors: [0.9], every_n_epochs: 1},"
        "{kind: checkpoint, every_n_epochs: 2, save_optim: true},"
        "{kind: checkpoint, every_n_epochs: 1, keep_last: 1}]"
    )
    result = noether_train(tmp_path, CONFIG, callbacks)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    folders = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    # E1 and E3 were pruned with their EMA weights; E2 stays: the every-2-epochs callback keeps it
    assert folders == ["E2_U24_S192", "E4_U48_S384"]
    for tag, folder in complete_checkpoints(run_dir).items():
        names = {p.name for p in folder.iterdir()}
        # the weights-only write at the same update did not drop the optimizer and trainer state
        assert {"model.pt", "optim.pt", "trainer.pt", "model_ema=0.9.pt"} <= names, tag


def test_ema_keep_last_prunes_folders_of_ema_weights_alone_across_a_resume(
    tmp_path: Path,
) -> None:
    callbacks = (
        "trainer.callbacks=["
        "{kind: ema, target_factors: [0.9], every_n_epochs: 1, keep_last: 1},"
        "{kind: checkpoint, every_n_epochs: 2, save_optim: true, keep_last: 1},"
        "{kind: checkpoint, every_n_epochs: 1, save_weights: false, save_latest_optim: true}]"
    )
    first = noether_train(tmp_path, CONFIG, callbacks, "trainer.max_epochs=3")
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    checkpoints = run_dir / "checkpoints"
    # E1 (EMA weights alone) was pruned; E2 stays: the checkpoint callback keeps it
    assert sorted(p.name for p in checkpoints.iterdir()) == ["E2_U24_S192", "E3_U36_S288", "latest"]
    resumed = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=4")
    assert resumed.returncode == 0, resumed.stderr
    # E3 was restored as the EMA callback's own tag, and pruned once E4 was written
    assert sorted(p.name for p in checkpoints.iterdir()) == ["E4_U48_S384", "latest"]
    assert {p.name for p in (checkpoints / "E4_U48_S384").iterdir()} >= {
        "model.pt",
        "model_ema=0.9.pt",
    }


def test_a_resume_initializer_without_a_tag_takes_the_newest_resumable_checkpoint(
    tmp_path: Path, source: Path
) -> None:
    # as `noether-train --resume` does; the source run has epoch checkpoints, no `latest`
    initializer = f"trainer.initializer={{kind: resume, run: {source}}}"
    result = noether_train(tmp_path, CONFIG, "trainer.max_epochs=3", initializer, NO_CALLBACKS)
    assert result.returncode == 0, result.stderr
    assert "from checkpoint E2_U24_S192" in result.stderr
    (run_dir,) = run_dirs(tmp_path)
    assert min(row["update"] for row in metrics(run_dir)) > 24
