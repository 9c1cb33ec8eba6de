"""Helpers of the resume tests: run `noether-train` on the resume project, read run folders."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

PROJECT = Path(__file__).parent
CONFIG = PROJECT / "experiment.yaml"
BIN = Path(sys.executable).parent
NOETHER_TRAIN = BIN / "noether-train"
TORCHRUN = BIN / "torchrun"
UPDATES_PER_EPOCH = 12  # 96 samples, effective batch 8
TOTAL_UPDATES = 48


def environment(**extra: str) -> dict[str, str]:
    """The test's environment with one thread per process and unbuffered output."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def train_command(*args: str | Path) -> list[str]:
    return [str(NOETHER_TRAIN), *map(str, args)]


def start_train(
    cwd: Path, *args: str | Path, train_gate: Path | None = None
) -> subprocess.Popen[str]:
    """Starts `noether-train ARGS` in the background, its stderr kept for the asserts; with
    `train_gate`, held at a train step until `open_train_gate` (see resume_runtime)."""
    extra = {"RESUME_TRAIN_GATE": str(train_gate)} if train_gate is not None else {}
    return subprocess.Popen(
        train_command(*args),
        cwd=cwd,
        env=environment(**extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_training(
    cwd: Path, process: subprocess.Popen[Any], timeout: float = 120, since: int = 0
) -> None:
    """Returns once the run under `cwd` logged a progress line past the first `since`
    characters of its train.log (or `process` ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        logs = list((cwd / "runs").glob("*/*/train.log"))
        if logs and "ProgressCallback" in logs[0].read_text()[since:]:
            return
        time.sleep(0.01)


def new_train_gate(cwd: Path) -> Path:
    """A fresh folder for `start_train(..., train_gate=)`."""
    return Path(tempfile.mkdtemp(prefix="train-gate-", dir=cwd))


def wait_at_train_gate(gate: Path, process: subprocess.Popen[Any], timeout: float = 120) -> None:
    """Returns once `process` trains and waits at `gate` (its 5th train step: 4 updates done)."""
    deadline = time.monotonic() + timeout
    while not (gate / "training").exists():
        assert process.poll() is None, "the run ended before it reached its train gate"
        assert time.monotonic() < deadline, "the run never reached its train gate"
        time.sleep(0.01)


def open_train_gate(gate: Path) -> None:
    """Lets the run held at `gate` train on."""
    (gate / "go").touch()


def signal_while_training(gate: Path, process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    """Sends `sig` to `process` while it is held at `gate`, then lets it go on: the signal
    reaches it in training however late this process is scheduled."""
    wait_at_train_gate(gate, process)
    process.send_signal(sig)
    open_train_gate(gate)


def noether_train(
    cwd: Path, *args: str | Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Runs `noether-train ARGS` to its end."""
    return subprocess.run(
        train_command(*args),
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def finished_run(cwd: Path, *args: str | Path) -> Path:
    """The run folder of the resume project trained to its end with `args` (a reference)."""
    done = noether_train(cwd, CONFIG, *args)
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(cwd)
    return run_dir


def run_dirs(cwd: Path, name: str = "resume") -> list[Path]:
    root = cwd / "runs" / name
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "checkpoint.json").read_text())
    except (OSError, ValueError):
        return None


def complete_checkpoints(run_dir: Path) -> dict[str, Path]:
    """Tag -> folder of every published checkpoint (a folder with a manifest)."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return {}
    return {
        p.name: p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and manifest(p) is not None
    }


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "model.pt", weights_only=True)


def assert_same_tensors(actual: Any, expected: Any, where: str = "") -> None:
    """Bitwise equality of nested state dicts."""
    if isinstance(expected, torch.Tensor):
        assert torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key in expected:
            assert_same_tensors(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same_tensors(a, e, f"{where}.{i}")
    else:
        assert actual == expected, where


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
