"""SIGTERM while `noether-train` starts or closes keeps the documented exit codes.

A run spends time outside its training loop: building datasets and the model (minutes for a
large dataset) and closing its tracker (uploading its last rows). A pre-emption there must
still end with 75, which the documented requeue script resumes, not as a kill (143), and a
run that trained to its end must not be reported as killed because SIGTERM came while it
closed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import (
    CONFIG,
    complete_checkpoints,
    environment,
    noether_train,
    run_dirs,
    start_train,
    train_command,
)

ONE_EPOCH = ("trainer.max_epochs=1", "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1}]")


def metrics_rows(run_dir: Path) -> list[str]:
    return [line for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    """Returns once the run wrote `path` (a marker of the phase it is in)."""
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _signal_when(
    path: Path, process: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM
) -> str:
    """Sends `sig` once `path` exists; returns the process's stderr."""
    try:
        _wait_for(path, process)
        process.send_signal(sig)
        return process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_sigterm_while_the_datasets_are_built_exits_75_and_the_run_resumes(
    tmp_path: Path,
) -> None:
    process = start_train(
        tmp_path,
        CONFIG,
        *ONE_EPOCH,
        "datasets.train={kind: resume_configs:SlowBuildDatasetConfig, build_seconds: 1}",
    )
    stderr = _signal_when(tmp_path / "building", process)
    assert process.returncode == 75, stderr
    assert "Traceback" not in stderr
    (run_dir,) = run_dirs(tmp_path)
    again = f"noether-train --resume {run_dir.relative_to(tmp_path)}"
    assert f"stopped by SIGTERM before training began, no checkpoint written: {again}" in stderr
    assert complete_checkpoints(run_dir) == {}
    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "E1_U12_S96" in complete_checkpoints(run_dir)


def test_sigterm_whose_exception_a_finalizer_swallowed_still_stops_the_run_with_75(
    tmp_path: Path,
) -> None:
    """A handler that runs inside `__del__` (or a library's garbage-collection callback, as
    sqlalchemy's under MLflow) raises in vain: Python prints the exception and carries on,
    and the run trained to its end and exited 0."""
    done = noether_train(
        tmp_path,
        CONFIG,
        *ONE_EPOCH,
        "datasets.train={kind: resume_configs:SignalInFinalizerDatasetConfig}",
    )
    assert done.returncode == 75, done.stderr
    assert "stopped by SIGTERM before training began" in done.stderr
    (run_dir,) = run_dirs(tmp_path)
    assert complete_checkpoints(run_dir) == {}
    assert not (run_dir / "metrics.jsonl").exists() or metrics_rows(run_dir) == []


def test_sigterm_while_the_tracker_starts_ends_its_mlflow_run_as_killed(tmp_path: Path) -> None:
    """MLflow's own reader: the run that the tracker had started was left RUNNING, with no
    end time."""
    from mlflow.tracking import MlflowClient

    tracker = "tracker={kind: resume_configs:SignalWhileStartingMlflowTrackerConfig}"
    done = noether_train(tmp_path, CONFIG, *ONE_EPOCH, tracker)
    assert done.returncode == 75, done.stderr
    (run_dir,) = run_dirs(tmp_path)
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    (run,) = client.search_runs(experiments)
    assert run.info.status == "KILLED"
    assert run.info.end_time is not None


def test_the_command_to_resume_a_resume_stopped_while_it_starts_names_its_checkpoint(
    tmp_path: Path,
) -> None:
    """`--resume RUN --checkpoint TAG` stopped while it builds: the command it prints resumes
    from TAG again, not from the run's newest checkpoint."""
    slow = "datasets.train={kind: resume_configs:SlowBuildDatasetConfig, build_seconds: 1}"
    epochs = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"
    first = noether_train(tmp_path, CONFIG, "trainer.max_epochs=2", epochs, slow)
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    (tmp_path / "building").unlink()
    process = start_train(tmp_path, "--resume", run_dir, "--checkpoint", "E1_U12_S96")
    stderr = _signal_when(tmp_path / "building", process)
    assert process.returncode == 75, stderr
    again = f"noether-train --resume {run_dir} --checkpoint E1_U12_S96"
    assert f"stopped by SIGTERM before training began, no checkpoint written: {again}" in stderr


@pytest.mark.parametrize(
    ("sig", "args"),
    [(signal.SIGTERM, ()), (signal.SIGINT, ("trainer.save_on_sigint=true",))],
    ids=["sigterm", "sigint"],
)
def test_a_stop_signal_while_a_finished_run_closes_its_tracker_lets_it_finish_with_0(
    tmp_path: Path, sig: signal.Signals, args: tuple[str, ...]
) -> None:
    process = start_train(
        tmp_path,
        CONFIG,
        *ONE_EPOCH,
        *args,
        "tracker={kind: resume_configs:SlowCloseJsonlTrackerConfig, close_seconds: 1}",
    )
    stderr = _signal_when(tmp_path / "closing", process, sig)
    assert process.returncode == 0, stderr
    assert f"received {sig.name} after training ended" in stderr
    assert "finished run" in stderr
    assert "Traceback" not in stderr
    (run_dir,) = run_dirs(tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["loss/online/total"] > 0


def test_sigterm_while_the_process_exits_after_a_finished_run_keeps_exit_code_0(
    tmp_path: Path,
) -> None:
    """The interpreter's teardown (joining workers, atexit hooks) comes after the last line
    noether-train writes; a SIGTERM there must not turn a finished run into a kill."""
    process = start_train(
        tmp_path,
        CONFIG,
        *ONE_EPOCH,
        "tracker={kind: resume_configs:SlowExitJsonlTrackerConfig, exit_seconds: 1}",
    )
    stderr = _signal_when(tmp_path / "exiting", process)
    assert process.returncode == 0, stderr
    assert "finished run" in stderr


def test_sigterm_after_the_exit_hooks_of_a_finished_run_keeps_exit_code_0(
    tmp_path: Path,
) -> None:
    """After its atexit hooks the interpreter finalizes (seconds with torch loaded), runs no
    Python signal handler and restores the default ones: a SIGTERM there killed the run
    that printed its final losses (143)."""
    process = subprocess.Popen(
        train_command(CONFIG, *ONE_EPOCH),
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("final loss/online/total"):
                break
        time.sleep(0.2)  # past the exit hooks, which this run has hardly any of
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_second_sigterm_while_the_process_exits_ends_it_at_once_with_its_exit_code(
    tmp_path: Path,
) -> None:
    """A teardown that hangs (here an atexit hook of 60 s) can still be stopped: the second
    signal ends the process, with the exit code the run had decided."""
    process = start_train(
        tmp_path,
        CONFIG,
        *ONE_EPOCH,
        "tracker={kind: resume_configs:SlowExitJsonlTrackerConfig, exit_seconds: 60}",
    )
    try:
        _wait_for(tmp_path / "exiting", process)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # the first one lets the teardown go on
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stderr = process.communicate(timeout=30)[1]
        assert time.monotonic() - sent < 20
        assert process.returncode == 0, stderr
        assert "finished run" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
