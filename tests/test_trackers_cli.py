"""The wandb and mlflow trackers in real `noether-train` runs, read back by their own tools.

W&B: `WANDB_MODE=offline` with a key set logs offline and opens no connection; the
credentials that `wandb login` stores send the run online, to wandb's own host; without
credentials or mode the run is recorded offline. Every connection a run opens goes through
a local proxy that records it and answers nothing, so no test reaches a network or hangs on
one. The offline runs are read back with wandb's reader of its transaction log
(`wandb leet inspect --json`). MLflow: the run is read back with MLflow's client, and a run
resumed in its own folder continues the same MLflow run.
"""

from __future__ import annotations

import json
import netrc
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import wait_until_training

PROJECT = Path(__file__).parent / "train_cli_project"
CONFIG = PROJECT / "experiment.yaml"
BIN = Path(sys.executable).parent
EXPERIMENT = "tiny_regression"  # 4 updates per epoch, 3 epochs, a checkpoint every epoch
FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"
SAVE_EVERY_EPOCH = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"
WANDB = "tracker={kind: wandb}"
RESUME_FROM_EPOCH_1 = ("--checkpoint", "E1_U4_S64", "trainer.max_epochs=4")


class Proxy:
    """A local HTTP(S) proxy that records the first bytes of every connection, answers none."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.requests: list[str] = []
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self._open.append(connection)
            connection.settimeout(5)
            try:
                self.requests.append(connection.recv(400).decode("latin-1"))
            except OSError as exc:
                self.requests.append(repr(exc))

    def close(self) -> None:
        self._server.close()
        for connection in self._open:
            connection.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    server = Proxy()
    yield server
    server.close()


def wandb_env(tmp_path: Path, proxy: Proxy, **extra: str) -> dict[str, str]:
    """No W&B settings from outside (a fresh HOME); all traffic through the proxy."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("WANDB_") and "proxy" not in key.lower()
    }
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url, ALL_PROXY=proxy.url)
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def run(
    cwd: Path, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "noether-train"), *map(str, args)],
        cwd=cwd,
        env=env or {**os.environ, "OMP_NUM_THREADS": "1"},
        stdin=subprocess.DEVNULL,  # never a terminal: wandb must not prompt
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def the_run_dir(cwd: Path) -> Path:
    (run_dir,) = (cwd / "runs" / EXPERIMENT).iterdir()
    return run_dir


def wandb_records(path: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """Every record of a run's .wandb transaction log, by wandb's own reader."""
    done = subprocess.run(
        [str(BIN / "wandb"), "leet", "inspect", str(path), "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def history(records: list[dict[str, Any]], key: str) -> dict[int, float]:
    rows = (r["history"] for r in records if r["type"] == "history")
    return {int(row["step"]["num"]): row["item"][key] for row in rows if key in row["item"]}


def test_wandb_offline_with_a_key_set_logs_offline_without_network_and_resumes_the_run(
    tmp_path: Path, proxy: Proxy
) -> None:
    env = wandb_env(tmp_path, proxy, WANDB_MODE="offline", WANDB_API_KEY=FAKE_KEY)
    first = run(tmp_path, CONFIG, SAVE_EVERY_EPOCH, "tracker={kind: wandb}", env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    run_dir = the_run_dir(tmp_path)
    resumed = run(tmp_path, "--resume", run_dir, *RESUME_FROM_EPOCH_1, env=env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert proxy.requests == []  # no connection at all

    logs = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(logs) == 2  # the run and its resumed part
    first_part, resumed_part = (wandb_records(log, env) for log in logs)
    for records in (first_part, resumed_part):
        (info,) = [r["run"] for r in records if r["type"] == "run"]
        assert info["run_id"] == run_dir.name  # the same W&B run
        assert info["project"] == "noether"
        assert info["display_name"] == f"{EXPERIMENT}/{run_dir.name}"
        (exit_record,) = [r["exit"] for r in records if r["type"] == "exit"]
        assert exit_record.get("exit_code", 0) == 0
    config = next(r["run"]["config"]["update"] for r in first_part if r["type"] == "run")
    assert config["name"] == EXPERIMENT and config["trainer"]["max_epochs"] == 3
    assert sorted(history(first_part, "loss/online/total")) == list(range(1, 13))
    assert sorted(history(resumed_part, "loss/online/total")) == list(range(5, 17))
    assert history(resumed_part, "epoch")[16] == 4
    summary = {}
    for record in first_part:
        if record["type"] == "summary":
            summary.update(record["summary"]["update"])
    assert summary["dataset/train/size"] == 64
    assert summary["loss/online/total"] == history(first_part, "loss/online/total")[12]


def test_wandb_login_credentials_send_the_run_online_to_wandbs_host(
    tmp_path: Path, proxy: Proxy
) -> None:
    env = wandb_env(tmp_path, proxy)
    login = subprocess.run(
        [str(BIN / "wandb"), "login", "--no-verify", FAKE_KEY],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert login.returncode == 0, login.stderr
    (host,) = netrc.netrc(str(tmp_path / "home" / ".netrc")).hosts  # wandb's host, its choice

    process = subprocess.Popen(
        [str(BIN / "noether-train"), str(CONFIG), "tracker={kind: wandb}"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # wandb's service process goes with it
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if any(f"CONNECT {host}:443" in request for request in proxy.requests):
                break
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert any(f"CONNECT {host}:443" in request for request in proxy.requests), proxy.requests
    assert not list(the_run_dir(tmp_path).glob("wandb/offline-run-*"))


def test_wandb_without_credentials_or_mode_records_the_run_offline(
    tmp_path: Path, proxy: Proxy
) -> None:
    env = wandb_env(tmp_path, proxy, WANDB_ERROR_REPORTING="false")  # wandb reports its errors
    result = run(tmp_path, CONFIG, "tracker={kind: wandb}", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert proxy.requests == []  # wandb found no credentials: nothing was sent
    (log,) = the_run_dir(tmp_path).glob("wandb/offline-run-*/run-*.wandb")
    records = wandb_records(log, env)
    assert sorted(history(records, "loss/online/total")) == list(range(1, 13))


def _start_endless_run(
    cwd: Path, env: dict[str, str], own_session: bool = False
) -> subprocess.Popen[bytes]:
    """A W&B run that trains until it is stopped (in its own session: killed as a group)."""
    return subprocess.Popen(
        [str(BIN / "noether-train"), str(CONFIG), "trainer.max_epochs=100000", WANDB],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=own_session,
    )


def _stopped_by_sigterm(cwd: Path, env: dict[str, str]) -> int:
    process = _start_endless_run(cwd, env)
    wait_until_training(cwd, process)
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=120)


def _failed(cwd: Path, env: dict[str, str]) -> int:
    unknown_output = "trainer.callbacks=[{kind: track_outputs, keys: [nope], every_n_updates: 2}]"
    return run(cwd, CONFIG, unknown_output, WANDB, env=env, timeout=120).returncode


@pytest.mark.parametrize(("end", "code"), [(_stopped_by_sigterm, 75), (_failed, 1)])
def test_wandb_records_how_the_run_ended_by_its_exit_code(
    tmp_path: Path, proxy: Proxy, end: Any, code: int
) -> None:
    env = wandb_env(tmp_path, proxy, WANDB_MODE="offline", WANDB_API_KEY=FAKE_KEY)
    assert end(tmp_path, env) == code
    (log,) = the_run_dir(tmp_path).glob("wandb/offline-run-*/run-*.wandb")
    (exit_record,) = [r["exit"] for r in wandb_records(log, env) if r["type"] == "exit"]
    assert exit_record.get("exit_code", 0) == code  # W&B shows it failed, not finished


def test_mlflow_run_reads_back_through_mlflows_client_and_resume_continues_it(
    tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    first = run(tmp_path, CONFIG, SAVE_EVERY_EPOCH, "tracker={kind: mlflow}")
    assert first.returncode == 0, first.stderr
    run_dir = the_run_dir(tmp_path).resolve()
    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    resumed = run(tmp_path, "--resume", run_dir, *RESUME_FROM_EPOCH_1)
    assert resumed.returncode == 0, resumed.stderr
    (kept,) = [line for line in resumed.stderr.splitlines() if "keep their first value" in line]
    # not the initializer that --resume adds to build the run, which its config.yaml has not
    assert kept.endswith("the new config is in the artifact config.yaml): trainer.max_epochs")
    assert "Traceback" not in first.stderr + resumed.stderr

    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    (mlflow_run,) = client.search_runs([experiment.experiment_id])
    assert mlflow_run.info.run_id == run_id  # the resumed run went on in the same MLflow run
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.info.run_name == f"{EXPERIMENT}/{run_dir.name}"
    steps = [m.step for m in client.get_metric_history(run_id, "loss/online/total")]
    assert sorted(steps) == list(range(1, 17))  # every update once, the resumed ones appended
    params = mlflow_run.data.params
    assert params["model.optimizer.kind"] == "sgd" and params["trainer.max_epochs"] == "3"
    assert params["trainer.callbacks.0.kind"] == "checkpoint"
    # the resume's initializer does not sit next to the null it replaced
    assert params["trainer.initializer"] == "null"
    assert not [key for key in params if key.startswith("trainer.initializer.")], params
    assert mlflow_run.data.metrics["summary/dataset/train/size"] == 64
    # recorded once: the resume sends no unchanged summary value again
    assert len(client.get_metric_history(run_id, "summary/dataset/train/size")) == 1
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.yaml"]
    artifact = client.download_artifacts(run_id, "config.yaml", str(tmp_path))
    assert yaml.safe_load(Path(artifact).read_text())["trainer"]["max_epochs"] == 4


def test_mlflow_resume_of_a_copied_run_writes_nothing_into_the_original(tmp_path: Path) -> None:
    """The store records the artifact folder as an absolute path: resuming a copy logged its
    config.yaml into the original run's folder (and a moved run's re-created the old one)."""
    first = run(tmp_path, CONFIG, SAVE_EVERY_EPOCH, "tracker={kind: mlflow}")
    assert first.returncode == 0, first.stderr
    original = the_run_dir(tmp_path).resolve()
    before = {path: path.read_bytes() for path in original.rglob("*") if path.is_file()}
    copy = tmp_path / "copied" / original.name
    shutil.copytree(original, copy)
    resumed = run(tmp_path, "--resume", copy, *RESUME_FROM_EPOCH_1)
    assert resumed.returncode == 0, resumed.stderr
    assert "outside this run folder (it was moved or copied)" in resumed.stderr
    after = {path: path.read_bytes() for path in original.rglob("*") if path.is_file()}
    assert after == before


def test_mlflow_server_that_does_not_answer_fails_the_start_at_once_naming_it(
    tmp_path: Path,
) -> None:
    """MLflow's client retries a refused connection for about five minutes before it raises
    (and a SIGTERM waits for it); the run (and `--dry-run`) says at once that the server does
    not answer, before it makes the run folder."""
    with socket.create_server(("127.0.0.1", 0)) as closed:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    tracker = f"tracker={{kind: mlflow, tracking_uri: '{url}'}}"
    for dry_run in (("--dry-run",), ()):
        done = run(tmp_path, CONFIG, tracker, *dry_run, env=env)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr and "Retrying" not in done.stderr, done.stderr
        assert f"tracker mlflow ({url}): the tracking server does not answer (" in done.stderr
        assert "Connection refused" in done.stderr, done.stderr
        assert not (tmp_path / "runs").exists()


def test_wandb_offline_rows_before_a_checkpoint_survive_a_kill_9(
    tmp_path: Path, proxy: Proxy
) -> None:
    env = wandb_env(tmp_path, proxy, WANDB_MODE="offline", WANDB_API_KEY=FAKE_KEY)
    process = _start_endless_run(tmp_path, env, own_session=True)  # killed with wandb's service
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if len(list(tmp_path.glob("runs/*/*/checkpoints/E*/checkpoint.json"))) >= 3:
                break
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    run_dir = the_run_dir(tmp_path)
    # the checkpoint before the last one found (that one may be cut short) and its rows
    checkpoints = sorted(
        int(p.parent.name.split("_")[1][1:]) for p in run_dir.glob("checkpoints/E*/checkpoint.json")
    )
    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    steps = set(history(wandb_records(log, env), "sample"))  # a key of every row
    # rows every 2 updates: all those logged before that checkpoint's update
    assert set(range(2, checkpoints[-2], 2)) <= steps, (checkpoints, sorted(steps))
