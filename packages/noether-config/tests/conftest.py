"""Shared fixtures of noether-config tests: config folders in tmp_path and sys.path hygiene."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
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
