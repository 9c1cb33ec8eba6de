"""The wandb tracker without wandb: the error names the extra to install.

The tracker with wandb itself (offline with a key set, online with `wandb login`'s
credentials, no credentials at all) runs in real `noether-train` processes in
tests/test_trackers_cli.py.
"""

from __future__ import annotations

import sys

import pytest

from noether.config import KindError
from noether.config.schemas.tracker import WandbTrackerConfig
from noether.core.trackers.wandb import WandbTracker


def test_without_wandb_the_error_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` fails
    with pytest.raises(KindError, match=r"pip install 'noether-core\[wandb\]'"):
        WandbTracker(WandbTrackerConfig())
