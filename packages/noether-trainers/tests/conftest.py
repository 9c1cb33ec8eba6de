"""Fixtures of the trainers tests: fake distributions with loss entry points, a run folder.

The two-field model and dataset come from noether.core.testing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from noether.config.entry_points import clear_cache
from noether.core.runs import PathProvider

torch.set_num_threads(1)


def install_fake_distribution(
    root: Path, dist_name: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """A real (unpacked) distribution on sys.path: modules plus a dist-info with entry points.

    `importlib.metadata` finds it like any installed package; callers clear the cache.
    """
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{dist_name.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.0.1\n", encoding="utf-8"
    )
    lines = ["[noether.losses]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def fake_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Installs fake distributions into a tmp folder on sys.path; forgets them afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(dist_name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        install_fake_distribution(site, dist_name, entry_points, modules)
        clear_cache()

    yield install
    clear_cache()


@pytest.fixture
def path_provider(tmp_path: Path) -> PathProvider:
    return PathProvider(tmp_path / "runs", "trainers_test")
