"""The `wandb` tracker: a Weights & Biases run whose files live in the run folder.

wandb is an optional extra (`pip install 'noether-core[wandb]'`); it is imported when the
tracker is built, so a missing package fails before training starts. Mode and credentials are
wandb's own: `WANDB_MODE` (or `wandb offline`) and the key of `wandb login`, `WANDB_API_KEY` or
a netrc entry for wandb's host. Without any credentials the run is recorded offline.
"""

from __future__ import annotations

import os
import time
from typing import Any

from noether.config import KindError
from noether.config.schemas.tracker import WandbTrackerConfig
from noether.core.build import BuildError
from noether.core.runs import PathProvider
from noether.core.signals import EXIT_PREEMPTED
from noether.core.trackers.base import TrackerBase

INSTALL_HINT = "pip install 'noether-core[wandb]'"

FLUSH_SETTING = "x_transaction_log_flush_interval"
FLUSH_SECONDS = 0.1
"""How often W&B's service writes what it received to the run's `.wandb` file (its
FLUSH_SETTING, 15 s by default); `flush()` waits for that write."""


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
    """Logs to a W&B run with the run folder's id, so a resumed run continues the same W&B run."""

    config: WandbTrackerConfig

    def __init__(self, config: WandbTrackerConfig) -> None:
        super().__init__(config)
        self._wandb = import_wandb()
        self._run: Any = None
        self._unflushed = False
        self._timed_writes = False

    def _mode(self) -> dict[str, str]:
        """The config's mode; else wandb's own (`WANDB_MODE`, `wandb offline`); else, when
        wandb finds no credentials (`wandb.login` without prompting), offline, so a machine
        that was never logged in still records the run (upload it later with `wandb sync`)."""
        if self.config.mode is not None:
            return {"mode": self.config.mode}
        if os.environ.get("WANDB_MODE") or self._wandb.login(prompt=False, verify=False):
            return {}
        return {"mode": "offline"}

    def _start(self, path_provider: PathProvider, config: dict[str, Any]) -> None:
        mode = self._mode()
        try:
            self._run = self._wandb.init(
                project=self.config.project,
                entity=self.config.entity,
                dir=str(path_provider.run_dir),
                name=f"{path_provider.name}/{path_provider.run_id}",
                id=path_provider.run_id,
                resume="allow",
                config=config,
                **self._flush_settings(),
                **mode,
            )
        except self._wandb.errors.Error as exc:
            raise BuildError(
                f"tracker wandb: {exc} (to log without W&B's server, set WANDB_MODE=offline "
                "or tracker.mode=offline; upload later with `wandb sync`)"
            ) from exc

    def _flush_settings(self) -> dict[str, Any]:
        """`settings` that make W&B's service write its file every FLUSH_SECONDS, where this
        wandb has that setting (releases before it write the file only as 32 KiB blocks fill,
        which no wait in `flush` can bring forward); else none."""
        settings = self._wandb.Settings
        if FLUSH_SETTING not in getattr(settings, "model_fields", {}):
            return {}
        self._timed_writes = True
        return {"settings": settings(**{FLUSH_SETTING: FLUSH_SECONDS})}

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self._run.log({**metrics, "epoch": epoch, "sample": sample}, step=update)
        self._unflushed = True

    def _summary(self, metrics: dict[str, float]) -> None:
        self._run.summary.update(metrics)
        self._unflushed = True

    def flush(self) -> None:
        """Waits until W&B's service holds every row logged so far and has written it to the
        run's `.wandb` file (the loop calls it before a checkpoint): rows are sent to the
        service asynchronously and written in batches, so a run killed after its checkpoint
        would lose the rows before it, which the resumed run does not log again."""
        if self._run is None or not self._unflushed:
            return
        self._unflushed = False
        dict(self._run.summary)  # a round trip: the service received every earlier record
        if self._timed_writes:
            time.sleep(2.5 * FLUSH_SECONDS)  # and wrote them to the file since

    def _close(self) -> None:
        # W&B shows a run by its exit code: 0 finished, else failed (here: 1, or 75 when a
        # signal stopped it with a checkpoint, noether-train's own exit codes)
        self._run.finish(exit_code=_EXIT_CODE[self.outcome])
        self._run = None


_EXIT_CODE = {"finished": 0, "stopped": EXIT_PREEMPTED, "failed": 1}
"""The exit code W&B records for each outcome: the one noether-train exits with."""
