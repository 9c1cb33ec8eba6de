"""The wandb tracker: install hint without wandb, offline without credentials."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from noether.config import KindError
from noether.config.schemas.tracker import WandbTrackerConfig
from noether.core.trackers.wandb import WandbTracker, has_api_key, resolve_mode

WANDB_INSTALLED = importlib.util.find_spec("wandb") is not None


@pytest.mark.skipif(WANDB_INSTALLED, reason="checks the message shown without wandb")
def test_missing_wandb_names_the_extra_to_install() -> None:
    with pytest.raises(KindError, match=r"pip install 'noether-core\[wandb\]'"):
        WandbTracker(WandbTrackerConfig())


def test_offline_without_credentials_online_with_a_key(tmp_path: Path) -> None:
    no_netrc = {"NETRC": str(tmp_path / "absent")}
    assert resolve_mode(WandbTrackerConfig(), no_netrc) == "offline"
    assert resolve_mode(WandbTrackerConfig(), {**no_netrc, "WANDB_API_KEY": "k"}) == "online"
    assert resolve_mode(WandbTrackerConfig(mode="disabled"), {"WANDB_API_KEY": "k"}) == "disabled"


def test_a_netrc_entry_for_the_wandb_host_counts_as_credentials(tmp_path: Path) -> None:
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    netrc_file.chmod(0o600)
    assert has_api_key({}, netrc_path=netrc_file)
    other = {"WANDB_BASE_URL": "https://wandb.example.com"}
    assert not has_api_key(other, netrc_path=netrc_file)
