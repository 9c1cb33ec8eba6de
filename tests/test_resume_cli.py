"""`noether-train` stopped by signals and continued with `--resume`, as a user runs it.

SIGTERM always writes a checkpoint and exits 75; `--resume` continues in the same folder and
its metrics (jsonl, TensorBoard) read back with each update once; a checkpoint written at the
end of an epoch resumes exactly whichever callback wrote it; config changes that would make
the run differ are refused by name unless forced; and a checkpoint file holding a pickle
payload is refused without running it.
"""

from __future__ import annotations

import io
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import (
    CONFIG,
    TOTAL_UPDATES,
    assert_same_tensors,
    complete_checkpoints,
    finished_run,
    manifest,
    metrics,
    new_train_gate,
    noether_train,
    open_train_gate,
    run_dirs,
    signal_while_training,
    start_train,
    wait_at_train_gate,
)

from noether.core.checkpoint import CheckpointError, CheckpointWriter
from noether.core.runs import LOCK_FILE

FINAL_CHECKPOINT = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 4, save_optim: true}]"
EPOCH_CHECKPOINTS = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"
FINAL_TAG = "E4_U48_S384"
MIDDLE_TAG = "E2_U24_S192"


def _start_and_signal(cwd: Path, sig: signal.Signals, *args: str) -> tuple[int, str, Path]:
    """Starts a run, sends `sig` once it trains, returns (exit code, stderr, run folder)."""
    cwd.mkdir(exist_ok=True)
    gate = new_train_gate(cwd)
    process = start_train(cwd, CONFIG, *args, train_gate=gate)
    signal_while_training(gate, process, sig)
    _, stderr = process.communicate(timeout=120)
    (run_dir,) = run_dirs(cwd)
    return process.returncode, stderr, run_dir


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run, with checkpoints at every epoch end."""
    return finished_run(tmp_path_factory.mktemp("reference"), EPOCH_CHECKPOINTS)


def test_sigterm_saves_exits_75_and_resume_appends_to_the_same_tensorboard_run(
    tmp_path: Path, reference: Path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator as ServedAccumulator,
    )

    tracker = "tracker={kind: tensorboard}"
    code, stderr, run_dir = _start_and_signal(tmp_path, signal.SIGTERM, FINAL_CHECKPOINT, tracker)
    assert code == 75, stderr
    assert "Traceback" not in stderr
    assert f"noether-train --resume {run_dir.relative_to(tmp_path)}" in stderr
    latest, signalled = sorted(complete_checkpoints(run_dir))
    assert latest == "latest" and signalled.startswith("sigterm_E"), signalled
    stopped_at = CheckpointWriter.load(run_dir, signalled)["trainer"]["update_counter"]["update"]
    assert 0 < stopped_at < TOTAL_UPDATES

    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert f"from checkpoint {signalled}" in resumed.stderr
    assert run_dirs(tmp_path) == [run_dir]  # the same folder, no second run
    final = CheckpointWriter.load(run_dir, FINAL_TAG)
    expected = CheckpointWriter.load(reference, FINAL_TAG)
    assert_same_tensors(final["model"], expected["model"])
    # as in the run that was never stopped: no `latest` at the stop's weights next to the
    # final checkpoint, and no signal checkpoint it made obsolete
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == [FINAL_TAG]
    assert f"deleted signal checkpoint {signalled}: {FINAL_TAG} is newer" in resumed.stderr

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    scalars = events.Scalars("loss/online/mse")
    assert [s.step for s in scalars] == list(range(1, TOTAL_UPDATES + 1))
    reference_losses = [row["loss/online/mse"] for row in metrics(reference)]
    assert [s.value for s in scalars] == pytest.approx(reference_losses, rel=1e-6)
    for tag in events.Tags()["scalars"]:  # the summary values of the start included
        steps = [s.step for s in events.Scalars(tag)]
        assert len(steps) == len(set(steps)), f"{tag} has repeated steps: {steps}"
    # recorded once, as in a run that was never stopped (the resume sends no unchanged value)
    for tag in ("summary/model/params/trainable", "summary/dataset/train/size"):
        assert [s.step for s in events.Scalars(tag)] == [0], tag
    # the reader TensorBoard's dashboards are served from (`--load_fast=false`) agrees
    served = ServedAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0})
    served.Reload()
    assert [e.step for e in served.Tensors("loss/online/mse")] == list(range(1, TOTAL_UPDATES + 1))


def test_sigint_stops_at_once_unless_save_on_sigint(tmp_path: Path) -> None:
    code, stderr, run_dir = _start_and_signal(tmp_path / "plain", signal.SIGINT)
    assert code == 130, stderr
    assert set(complete_checkpoints(run_dir)) == {"latest"}  # the project's only checkpoint
    latest = manifest(run_dir / "checkpoints" / "latest")
    assert latest is not None
    resume = f"noether-train --resume {run_dir.relative_to(tmp_path / 'plain')} continues"
    assert f"{resume} from checkpoint latest (update {latest['update']})" in stderr, stderr
    assert not any(tag.startswith("sigint_") for tag in complete_checkpoints(run_dir))
    code, stderr, run_dir = _start_and_signal(
        tmp_path / "saving", signal.SIGINT, "trainer.save_on_sigint=true"
    )
    assert code == 75, stderr
    assert any(tag.startswith("sigint_E") for tag in complete_checkpoints(run_dir))


@pytest.mark.parametrize(
    "every", ["every_n_updates: 12", "every_n_samples: 96, batch_size: 8", "every_n_epochs: 1"]
)
def test_a_checkpoint_at_the_end_of_an_epoch_resumes_exactly(
    tmp_path: Path, reference: Path, every: str
) -> None:
    callbacks = f"trainer.callbacks=[{{kind: checkpoint, {every}, save_optim: true}}]"
    first = noether_train(tmp_path, CONFIG, callbacks)
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    # written at the last update of epoch 1: the position is the start of epoch 2
    assert "E1_U12_S96" in complete_checkpoints(run_dir)
    resumed = noether_train(tmp_path, "--resume", run_dir, "--checkpoint", "E1_U12_S96")
    assert resumed.returncode == 0, resumed.stderr
    assert "deleting checkpoint E4_U48_S384" in resumed.stderr  # the abandoned continuation
    assert f"resumed run {run_dir} from checkpoint E1_U12_S96\n" in resumed.stderr  # no "at"
    assert_same_tensors(
        CheckpointWriter.load(run_dir, FINAL_TAG)["model"],
        CheckpointWriter.load(reference, FINAL_TAG)["model"],
    )


def test_resuming_a_finished_run_trains_nothing_and_leaves_its_files_as_they_are(
    tmp_path: Path, reference: Path
) -> None:
    """A run killed after its last checkpoint (or a requeued job that had finished) is resumed
    from a checkpoint at its end: no evaluation or checkpoint is added to what the
    uninterrupted run wrote, and its final losses are printed as the finished run printed
    them."""
    run_dir = tmp_path / "runs" / "resume" / reference.name
    shutil.copytree(reference, run_dir)
    rows = (run_dir / "metrics.jsonl").read_text()
    manifest = run_dir / "checkpoints" / FINAL_TAG / "checkpoint.json"
    written = manifest.stat().st_mtime_ns
    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert (run_dir / "metrics.jsonl").read_text() == rows
    assert manifest.stat().st_mtime_ns == written
    assert "nothing left to train" in resumed.stderr
    assert sorted(complete_checkpoints(run_dir)) == sorted(complete_checkpoints(reference))
    # the result lines that the finished run printed (a job killed before they came out)
    last: dict[str, float] = {}
    for row in metrics(reference):
        last.update({key: value for key, value in row.items() if key.startswith("loss/")})
    printed = [line for line in resumed.stdout.splitlines() if line.startswith("final ")]
    assert printed == [f"final {key} = {value:.6g}" for key, value in sorted(last.items())]
    assert printed
    # a raised stop criterion continues it
    longer = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=5")
    assert longer.returncode == 0, longer.stderr
    assert [row["update"] for row in metrics(run_dir)][-1] == TOTAL_UPDATES + 12


def test_a_resume_from_a_checkpoint_that_cannot_be_read_changes_nothing_in_the_run(
    tmp_path: Path, reference: Path
) -> None:
    """A truncated file (a copy cut short, a full disk elsewhere): the run's later checkpoints,
    metrics rows and TensorBoard files stay as they were, so the user can resume from another
    checkpoint; a resume that restores its checkpoint then retires the later ones."""
    run_dir = tmp_path / "runs" / "resume" / reference.name
    shutil.copytree(reference, run_dir)
    weights = run_dir / "checkpoints" / MIDDLE_TAG / "model.pt"
    intact = weights.read_bytes()
    weights.write_bytes(intact[:100])
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}

    resumed = noether_train(tmp_path, "--resume", run_dir, "--checkpoint", MIDDLE_TAG)

    assert resumed.returncode == 1, resumed.stderr
    assert f"{MIDDLE_TAG}/model.pt: cut short when written, or damaged since" in resumed.stderr
    assert "Traceback" not in resumed.stderr
    after = {path: path.read_bytes() for path in before}
    changed = sorted(path.name for path in before if after[path] != before[path])
    assert changed == [LOCK_FILE, "train.log"], changed  # who held the folder; the error

    weights.write_bytes(intact)
    resumed = noether_train(tmp_path, "--resume", run_dir, "--checkpoint", MIDDLE_TAG)
    assert resumed.returncode == 0, resumed.stderr
    assert "deleting checkpoint E3_U36_S288 (update 36)" in resumed.stderr
    assert [row["update"] for row in metrics(run_dir)] == list(range(1, TOTAL_UPDATES + 1))
    final = CheckpointWriter.load(run_dir, FINAL_TAG)
    assert_same_tensors(final["model"], CheckpointWriter.load(reference, FINAL_TAG)["model"])


def _files(run_dir: Path) -> dict[Path, bytes]:
    """Every file of a run folder with its contents, but for the lock and the run's log
    (a refused resume writes who held the folder, and its error)."""
    return {
        path: path.read_bytes()
        for path in run_dir.rglob("*")
        if path.is_file() and path.name not in (LOCK_FILE, "train.log")
    }


@pytest.mark.parametrize("damage", ["cut short", "missing"])
def test_a_checkpoint_without_a_readable_manifest_is_not_passed_over(
    tmp_path: Path, reference: Path, damage: str
) -> None:
    """A copy of a run folder cut short, or a damaged manifest: the run is not continued from
    an older checkpoint (or the start), whose continuation would write over the damaged one."""
    run_dir = tmp_path / "runs" / "resume" / reference.name
    shutil.copytree(reference, run_dir)
    manifest = run_dir / "checkpoints" / FINAL_TAG / "checkpoint.json"
    if damage == "missing":
        manifest.unlink()
    else:
        manifest.write_text(manifest.read_text()[:20])
    before = _files(run_dir)

    refused = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=5")

    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr
    assert f"checkpoints/{FINAL_TAG} holds checkpoint files without a readable" in refused.stderr
    assert "the newest complete one is E3_U36_S288" in refused.stderr
    assert _files(run_dir) == before


def test_a_damaged_checkpoint_before_the_newest_complete_one_holds_no_resume_back(
    tmp_path: Path, reference: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither passed over nor written again by a resume from the newer one: it is left as
    it is, with a warning (a finished run could not be resumed, or checked, at all)."""
    import yaml

    from noether.core.resume import plan_resume

    run_dir = tmp_path / "runs" / "resume" / reference.name
    shutil.copytree(reference, run_dir)
    (run_dir / "checkpoints" / MIDDLE_TAG / "checkpoint.json").unlink()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())

    plan = plan_resume(run_dir, None, config, force=False, world_size=1)

    assert plan.checkpoint is not None and plan.checkpoint.tag == FINAL_TAG
    assert f"checkpoints/{MIDDLE_TAG} holds checkpoint files without a readable" in caplog.text
    assert f"left as it is: the run continues from the newer {FINAL_TAG}" in caplog.text


def test_a_forced_model_change_that_cannot_load_leaves_the_run_resumable(
    tmp_path: Path, reference: Path
) -> None:
    """`--force` accepts a changed model, but weights of another shape cannot continue: the
    resume fails before it rewrites config.yaml or starts the tracker, so the run resumes as
    it was afterwards."""
    run_dir = tmp_path / "runs" / "resume" / reference.name
    shutil.copytree(reference, run_dir)
    before = _files(run_dir)

    forced = noether_train(
        tmp_path, "--resume", run_dir, "--force", "model.hidden=32", "trainer.max_epochs=5"
    )

    assert forced.returncode == 1, forced.stderr
    assert "Traceback" not in forced.stderr
    assert f"checkpoint '{FINAL_TAG}' of {run_dir} does not fit this model" in forced.stderr
    assert "net.0.weight: shape (16, 4) stored, (32, 4) now" in forced.stderr
    assert _files(run_dir) == before
    resumed = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=5")
    assert resumed.returncode == 0, resumed.stderr
    assert [row["update"] for row in metrics(run_dir)][-1] == TOTAL_UPDATES + 12


def test_a_resume_of_a_run_that_still_trains_is_refused_and_works_once_it_ended(
    tmp_path: Path, reference: Path
) -> None:
    """A requeued job or a second terminal resuming a live run would mix both runs' files."""
    cwd = tmp_path / "live"
    cwd.mkdir()
    gate = new_train_gate(cwd)
    process = start_train(cwd, CONFIG, FINAL_CHECKPOINT, train_gate=gate)
    wait_at_train_gate(gate, process)  # held in training: it cannot end before the SIGSTOP
    process.send_signal(signal.SIGSTOP)  # still holds its run folder, writes nothing
    try:
        (run_dir,) = run_dirs(cwd)
        before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
        refused = noether_train(cwd, "--resume", run_dir)
        assert refused.returncode == 1, refused.stderr
        assert f"is in use by process {process.pid} on " in refused.stderr
        assert "Traceback" not in refused.stderr
        dry = noether_train(cwd, "--resume", run_dir, "--dry-run")  # says what a run would
        assert dry.returncode == 1, dry.stdout
        assert f"is in use by process {process.pid} on " in dry.stderr
        assert {path: path.read_bytes() for path in before} == before
    finally:
        open_train_gate(gate)
        process.send_signal(signal.SIGCONT)
    assert process.wait(timeout=120) == 0
    assert [row["update"] for row in metrics(run_dir)] == list(range(1, TOTAL_UPDATES + 1))
    resumed = noether_train(cwd, "--resume", run_dir)  # ended: the folder is free again
    assert resumed.returncode == 0, resumed.stderr
    assert "nothing left to train" in resumed.stderr


def test_a_run_killed_with_only_best_checkpoints_starts_again_and_writes_them_the_same(
    tmp_path: Path,
) -> None:
    """A best checkpoint holds weights only but is no position of the run: a kill before the
    first resumable checkpoint left a run that every resume refused ("give save_optim")."""
    best = "{kind: best_checkpoint, metric_key: loss/online/mse, every_n_updates: 4}"
    best = f"trainer.callbacks=[{best}]"
    first = noether_train(tmp_path, CONFIG, best, "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    (tag,) = complete_checkpoints(run_dir)
    assert tag.startswith("best_")
    weights = run_dir / "checkpoints" / tag / "model.pt"
    written = weights.read_bytes()

    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "starts again from the beginning" in resumed.stderr
    assert_same_tensors(torch.load(weights), torch.load(io.BytesIO(written)))


def test_resuming_a_run_with_weights_only_checkpoints_is_refused_and_keeps_them(
    tmp_path: Path,
) -> None:
    weights_only = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1}]"
    first = noether_train(tmp_path, CONFIG, weights_only, "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    weights = run_dir / "checkpoints" / "E1_U12_S96" / "model.pt"
    written = weights.read_bytes()
    rows = metrics(run_dir)

    resumed = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=2")

    assert resumed.returncode == 1, resumed.stderr
    assert "E1_U12_S96) hold weights only" in resumed.stderr
    assert "save_optim: true" in resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert weights.read_bytes() == written
    assert metrics(run_dir) == rows


def test_changes_that_break_exactness_are_refused_by_name_and_accepted_with_force(
    tmp_path: Path, reference: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    changes = [
        "seed=4",
        "trainer.effective_batch_size=16",
        "model.hidden=32",
        "trainer.precision=bf16",
    ]
    before = sorted(str(p) for p in run_dir.rglob("*"))
    refused = noether_train(tmp_path, "--resume", run_dir, "--checkpoint", "E2_U24_S192", *changes)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    for line in (
        "seed: 3 -> 4",
        "trainer.effective_batch_size: 8 -> 16",
        "model.hidden: 16 -> 32",
        "trainer.precision: 'float32' -> 'bf16'",
    ):
        assert line in refused.stderr
    assert "--force" in refused.stderr
    assert sorted(str(p) for p in run_dir.rglob("*")) == before  # nothing written

    harmless = ["trainer.max_epochs=5", "trainer.log_every_n_updates=6", "tracker={kind: noop}"]
    passed = noether_train(tmp_path, "--resume", run_dir, *harmless)
    assert passed.returncode == 0, passed.stderr
    assert "changed since the checkpoint: trainer.max_epochs: 4 -> 5" in passed.stderr
    assert "E5_U60_S480" in complete_checkpoints(run_dir)

    forced = noether_train(
        tmp_path, "--resume", run_dir, "--checkpoint", "E2_U24_S192", "--force", "seed=4"
    )
    assert forced.returncode == 0, forced.stderr
    assert "forced, not exact): seed: 3 -> 4" in forced.stderr


class _Payload:
    """Unpickling this creates the marker file (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("filename", ["model.pt", "optim.pt", "trainer.pt"])
def test_a_pickle_payload_in_a_checkpoint_file_is_refused_and_never_runs(
    tmp_path: Path, reference: Path, filename: str
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    marker = tmp_path / "payload-ran"
    target = run_dir / "checkpoints" / "E2_U24_S192" / filename
    torch.save({"state": _Payload(marker)}, target)

    with pytest.raises(CheckpointError, match=filename):
        CheckpointWriter.load(run_dir, "E2_U24_S192")
    result = noether_train(tmp_path, "--resume", run_dir, "--checkpoint", "E2_U24_S192")
    assert result.returncode == 1
    assert f"{target}: refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    result = noether_train(tmp_path, CONFIG, "datasets.train.poison_index=5")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (run_dir,) = run_dirs(tmp_path)
    rows = metrics(run_dir)
    # tracked every update: the read names the one update that went bad
    assert f"the loss became NaN or infinite in update {rows[-1]['update']} (" in result.stderr
    assert "loss/online/mse" in result.stderr
    assert rows[-1]["loss/online/mse"] == "nan"  # the window that went bad is logged
    latest = CheckpointWriter.load(run_dir, "latest")
    assert latest["trainer"]["update_counter"]["update"] == rows[-1]["update"] - 1
    assert all(torch.isfinite(value).all() for value in latest["model"].values())


def test_a_resume_that_fails_before_its_first_update_leaves_config_yaml_as_it_was(
    tmp_path: Path,
) -> None:
    """An override that the checkpoint refuses (other EMA factors) failed the resume, but
    stayed in config.yaml, so every later plain --resume failed the same way."""
    callbacks = (
        "trainer.callbacks=[{kind: ema, target_factors: [0.9], every_n_epochs: 1}, "
        "{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"
    )
    first = noether_train(tmp_path, CONFIG, callbacks, "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    stored = (run_dir / "config.yaml").read_text()

    refused = noether_train(
        tmp_path,
        "--resume",
        run_dir,
        "trainer.max_epochs=2",
        "trainer.callbacks.0.target_factors=[0.99]",
    )
    assert refused.returncode == 1, refused.stderr
    assert "the checkpoint holds target_factors [0.9]" in refused.stderr
    assert (run_dir / "config.yaml").read_text() == stored

    resumed = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=2")
    assert resumed.returncode == 0, resumed.stderr
