"""The `wandb` tracker: Weights & Biases, offline when no API key is configured.

wandb is an optional extra (`pip install 'noether-core[wandb]'`); it is imported when the
tracker is built, so a missing package fails before training starts.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from noether.config import KindError
from noether.config.schemas.tracker import WandbTrackerConfig
from noether.core.runs import PathProvider
from noether.core.trackers.base import TrackerBase

INSTALL_HINT = "pip install 'noether-core[wandb]'"


def has_api_key(environ: Mapping[str, str] | None = None, netrc_path: Path | None = None) -> bool:
    """Whether W&B credentials exist: `WANDB_API_KEY` or a netrc entry for the W&B host."""
    env = os.environ if environ is None else environ
    if env.get("WANDB_API_KEY"):
        return True
    host = urlparse(env.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    path = netrc_path or Path(env.get("NETRC", str(Path.home() / ".netrc")))
    try:
        return netrc.netrc(str(path)).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(config: WandbTrackerConfig, environ: Mapping[str, str] | None = None) -> str:
    """The configured mode, else online with credentials and offline without."""
    if config.mode is not None:
        return config.mode
    return "online" if has_api_key(environ) else "offline"


def import_wandb() -> Any:
    """Imports wandb, or says how to install it."""
    try:
        import wandb
    except ImportError:
        raise KindError(
            f"the wandb tracker needs the wandb package, which is not installed: {INSTALL_HINT}"
        ) from None
    return wandb


class WandbTracker(TrackerBase):
    """Logs to a W&B run whose files live in the run folder."""

    config: WandbTrackerConfig

    def __init__(self, config: WandbTrackerConfig) -> None:
        super().__init__(config)
        self._wandb = import_wandb()
        self._run: Any = None

    def _start(self, path_provider: PathProvider, config: dict[str, Any]) -> None:
        self._run = self._wandb.init(
            project=self.config.project,
            entity=self.config.entity,
            mode=resolve_mode(self.config),
            dir=str(path_provider.run_dir),
            name=f"{path_provider.name}/{path_provider.run_id}",
            id=path_provider.run_id,  # a resumed run (same folder) continues the same W&B run
            resume="allow",
            config=config,
        )

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self._run.log({**metrics, "epoch": epoch, "sample": sample}, step=update)

    def _summary(self, metrics: dict[str, float]) -> None:
        self._run.summary.update(metrics)

    def _close(self) -> None:
        self._run.finish()
        self._run = None
