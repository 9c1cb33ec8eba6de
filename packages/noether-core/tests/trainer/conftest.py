"""Fixtures of the loop tests; the model, data and trainer come from noether.core.testing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from noether.core.runs import PathProvider
from noether.core.testing import RecordingTracker

torch.set_num_threads(1)


@pytest.fixture
def path_provider(tmp_path: Path) -> PathProvider:
    return PathProvider(tmp_path / "runs", "loop_test")


@pytest.fixture
def tracker() -> RecordingTracker:
    return RecordingTracker()
