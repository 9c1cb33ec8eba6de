"""noether-train with noether packages that are not versions made for each other (one of
them updated alone): said before anything that a mismatch may lack is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

NOETHER_TRAIN = Path(sys.executable).parent / "noether-train"


def test_an_older_noether_config_beside_this_noether_core_is_named_with_the_fix(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"  # first on the path: its metadata is what the installer left
    info = site / "noether_config-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: noether-config\nVersion: 0.1.0\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [str(NOETHER_TRAIN), str(tmp_path / "any.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "noether-train: the installed noether packages are not versions made for each other:"
    )
    core = metadata.version("noether-core")
    assert f"  noether-core {core} needs noether-config" in done.stderr
    assert "; noether-config 0.1.0 is installed" in done.stderr
    assert lines[-1].startswith("  update them together: pip install -U noether-config ")
    version = subprocess.run(
        [str(NOETHER_TRAIN), "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "noether-config 0.1.0" in version.stdout  # what is installed, to see the mismatch
