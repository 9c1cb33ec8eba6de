"""Shared fixtures of noether-config tests: config folders in tmp_path, sys.path hygiene, and
commands run under time and memory limits."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# A torch-free project-local schema module, as a user writes next to their configs.
PROJECT_SCHEMAS = '''
from typing import ClassVar

from pydantic import Field

from noether.config import DatasetConfig, ModelConfig


class PointsDatasetConfig(DatasetConfig):
    """Random points."""

    target: ClassVar[str] = "{module}_runtime:PointsDataset"

    num_samples: int = Field(default=8, ge=1)
    """Number of samples."""


class TinyModelConfig(ModelConfig):
    """A tiny MLP."""

    target: ClassVar[str] = "{module}_runtime:TinyModel"

    width: int = Field(default=4, ge=1)
    """Hidden width."""
'''

VALID_CONFIG = """\
name: demo
seed: 3
datasets:
  train: {kind: "{module}:PointsDatasetConfig", num_samples: 16}
model:
  kind: {module}.TinyModelConfig
  width: 8
  optimizer:
    kind: adamw
    lr: 1.0e-3
    schedule: {kind: linear_warmup_cosine_decay, warmup_percent: 0.1}
trainer:
  kind: weighted_loss
  max_epochs: 2
  effective_batch_size: 4
  forward_properties: [x]
  target_properties: [pressure_target]
  field_weights: {pressure: 1.0}
tracker: {kind: jsonl}
"""

_counter = iter(range(1_000_000))


@pytest.fixture(autouse=True)
def _restore_sys_path() -> Iterator[None]:
    """load_config prepends config folders to sys.path; undo that after each test."""
    saved = list(sys.path)
    yield
    sys.path[:] = saved


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Writes a schema module (unique name per test) and files; returns the folder.

    Call as `project(**{"name.yaml": text})`; `{module}` in texts is the module name.
    """
    module = f"proj_schemas_{next(_counter)}"
    (tmp_path / f"{module}.py").write_text(PROJECT_SCHEMAS.replace("{module}", module))

    def write(**files: str) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).replace("{module}", module))
        return tmp_path

    write.module = module  # type: ignore[attr-defined]
    yield write
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        del sys.modules[name]


@pytest.fixture
def valid_yaml() -> str:
    """A valid experiment using built-in kinds and the project's schema module."""
    return VALID_CONFIG


BOUNDED_RUN = r"""
import json, resource, subprocess, sys, time

seconds, address_space = float(sys.argv[1]), int(sys.argv[2])


def limit():
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


start = time.perf_counter()
try:
    done = subprocess.run(
        sys.argv[3:], capture_output=True, text=True, timeout=seconds, preexec_fn=limit
    )
    code, output = done.returncode, done.stdout + done.stderr
except subprocess.TimeoutExpired as expired:
    partial = (expired.stdout or b"") + (expired.stderr or b"")
    code = None
    output = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "code": code,
    "output": output,
    "wall_s": time.perf_counter() - start,
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "peak_mb": usage.ru_maxrss / 1024,
}))
"""
"""Runs a command under a time limit and an address-space limit and reports its wall time, CPU
time and peak resident memory (of that command alone: this wrapper is its only parent)."""


@dataclass
class BoundedRun:
    """What a command run by `run_bounded` did; `code` is None when it ran out of time."""

    code: int | None
    output: str
    wall_s: float
    cpu_s: float
    peak_mb: float


RunBounded = Callable[..., BoundedRun]


@pytest.fixture(scope="session")
def run_bounded() -> RunBounded:
    """`run_bounded(command, seconds=30, memory_mb=1024, env=None)`: the command in a subprocess
    with those limits (RLIMIT_AS), measured."""

    def run(
        command: list[str],
        seconds: float = 30.0,
        memory_mb: int = 1024,
        env: dict[str, str] | None = None,
    ) -> BoundedRun:
        wrapper = [sys.executable, "-c", BOUNDED_RUN, str(seconds), str(memory_mb << 20)]
        done = subprocess.run(
            [*wrapper, *command], capture_output=True, text=True, env=env, check=True
        )
        return BoundedRun(**json.loads(done.stdout))

    return run


@pytest.fixture(scope="session")
def interpreter_peak_mb(run_bounded: RunBounded) -> float:
    """Peak resident memory of a bare interpreter: the baseline of memory bounds."""
    return run_bounded([sys.executable, "-c", "pass"]).peak_mb


@pytest.fixture(scope="session")
def noether_config() -> list[str]:
    """The installed `noether-config` script (next to this interpreter), as a user runs it."""
    script = Path(sys.executable).with_name("noether-config")
    return [str(script)] if script.exists() else [sys.executable, "-m", "noether.config.cli"]
