"""`noether-train` given a config path that is there but is no readable file: it says why
(exit 1, the loader's message) or that it is a folder (exit 2), never "not found" for
something that is there, never a traceback, and never hangs on a FIFO."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

NOETHER_TRAIN = Path(sys.executable).with_name("noether-train")


def fifo(folder: Path) -> str:
    os.mkfifo(folder / "exp.yaml")
    return "exp.yaml"


def symlink_loop(folder: Path) -> str:
    (folder / "exp.yaml").symlink_to("other.yaml")
    (folder / "other.yaml").symlink_to("exp.yaml")
    return "exp.yaml"


def in_a_closed_folder(folder: Path) -> str:
    (folder / "closed").mkdir()
    (folder / "closed" / "exp.yaml").write_text("name: x\n")
    (folder / "closed").chmod(0)
    return "closed/exp.yaml"


def a_folder(folder: Path) -> str:
    (folder / "exp.yaml").mkdir()
    return "exp.yaml"


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (fifo, 1, "cannot read config file 'exp.yaml': not a regular file"),
        (symlink_loop, 1, "cannot read config file 'exp.yaml': Too many levels of symbolic links"),
        (in_a_closed_folder, 1, "cannot read config file 'closed/exp.yaml': Permission denied"),
        (a_folder, 2, "noether-train: exp.yaml is a folder, not a config file"),
    ],
    ids=["fifo", "symlink-loop", "closed-folder", "folder"],
)
def test_config_path_that_is_no_readable_file(
    world_readable: Path,
    unprivileged: list[str],
    make: Callable[[Path], str],
    code: int,
    message: str,
) -> None:
    name = make(world_readable)
    done = subprocess.run(
        [*unprivileged, str(NOETHER_TRAIN), name, "--print-config"],
        cwd=world_readable,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and "not found" not in done.stderr, done.stderr


@pytest.mark.parametrize("seed", [2**64, 2**32, -1])
def test_a_seed_outside_32_bits_is_a_config_error_before_the_run_folder(
    tmp_path: Path, seed: int
) -> None:
    """torch's generators take a signed 64-bit integer (a larger one failed after the run
    folder was made, naming no key), but its CPU generator and NumPy keep its low 32 bits:
    seeds 0 and 2**32, or -1 and 2**32 - 1, gave the same run."""
    config = Path(__file__).resolve().parents[1] / "examples" / "quickstart" / "config.yaml"
    done = subprocess.run(
        [str(NOETHER_TRAIN), str(config), f"seed={seed}", f"output_path={tmp_path / 'runs'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 1, done.stderr
    assert "config.yaml:6: seed: Input should be" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()
