"""What a checkpoint may hold: states are checked when written, files refused when unsafe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from noether.core.checkpoint.folders import CheckpointError
from noether.core.checkpoint.safe_files import check_storable, load_file, save_file
from noether.core.rng import get_rng_states, set_rng_states


def test_plain_states_are_storable_and_load_back(tmp_path: Path) -> None:
    state = {"a": [1, 2.5, "x", None, True], "t": torch.ones(2), "n": {"k": (1, 2)}}
    check_storable(state, "trainer state")
    save_file(state, tmp_path / "s.pt")
    loaded = load_file(tmp_path / "s.pt")
    assert loaded["a"] == [1, 2.5, "x", None, True]
    assert loaded["n"] == {"k": (1, 2)}


def test_an_unstorable_value_is_named_by_its_path() -> None:
    state = {"callbacks": {"best_metric": {"best_value": np.float64(0.5)}}}
    with pytest.raises(CheckpointError, match=r"trainer state\.callbacks\.best_metric\.best_value"):
        check_storable(state, "trainer state")


class _Object:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("code ran",))


def test_a_file_with_a_pickled_callable_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "trainer.pt"
    torch.save({"x": _Object()}, path)
    with pytest.raises(CheckpointError, match=r"trainer\.pt: refused.*Unsupported global"):
        load_file(path)


def test_rng_states_round_trip_through_a_safe_file(tmp_path: Path) -> None:
    import random

    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_file(get_rng_states(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_states(load_file(tmp_path / "rng.pt"))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


@pytest.mark.parametrize("kept", [0.5, 0.99])
def test_a_file_cut_short_is_refused_with_its_name(tmp_path: Path, kept: float) -> None:
    path = tmp_path / "model.pt"
    save_file({"w": torch.arange(4096.0)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * kept)])  # a copy cut short
    with pytest.raises(CheckpointError, match=r"model\.pt: cut short when written, or damaged"):
        load_file(path)


_WRITE_UNDER_FILE_LIMIT = """
import resource, sys
from pathlib import Path
import torch
from noether.core.checkpoint.safe_files import save_file
resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))  # Python ignores SIGXFSZ: EFBIG
try:
    save_file({"w": torch.zeros(100_000)}, Path(sys.argv[1]))
except OSError as error:
    print(type(error).__name__, error.errno, error.filename)
"""


def test_a_write_past_the_file_size_limit_inside_torch_save_names_the_file(
    tmp_path: Path,
) -> None:
    # 400 KB in one record: torch's zip writer hits the limit itself and reports its own
    # RuntimeError ("unexpected pos"), which hides the OSError; a full disk fails the same way
    import errno
    import subprocess
    import sys

    path = tmp_path / "model.pt"
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_UNDER_FILE_LIMIT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["OSError", str(errno.EFBIG), str(path)]
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
