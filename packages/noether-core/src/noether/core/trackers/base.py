"""TrackerBase: a sink for metrics rows; only rank 0 writes anything."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from noether.config.schemas.tracker import TrackerConfig
from noether.core.distributed import is_rank0
from noether.core.runs import PathProvider

RunOutcome = Literal["finished", "stopped", "failed"]
"""How a run ended: trained to its end (or an early stop), stopped by a signal with a
checkpoint to resume from, or failed."""


class TrackerBase:
    """Receives one row of metrics per logging step and a summary at the end.

    Subclasses implement the `_start` / `_log` / `_summary` / `_close` hooks; the public methods
    make every tracker a no-op on ranks other than 0 and before `start` or after `close`.

    Args:
        config: the tracker's schema.
    """

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.path_provider: PathProvider | None = None
        self.is_active = False
        self.resumed_at: int | None = None
        """The update a resumed run continues from (rows logged after it by the interrupted
        run are dropped or superseded); -1 when it starts again from the beginning (no
        checkpoint: every row, those of update 0 included, is superseded); None for a new
        run."""
        self.outcome: RunOutcome = "finished"
        """How the run ended (set by `close`, read by `_close`)."""

    @property
    def start_update(self) -> int:
        """The update the run's rows start after: the resumed checkpoint's, else 0 (a new run,
        or one started again without a checkpoint); where its start's summary values go."""
        return max(self.resumed_at or 0, 0)

    def start(
        self, path_provider: PathProvider, config: dict[str, Any], resumed_at: int | None = None
    ) -> None:
        """Opens the sink in the run folder; `config` is the resolved experiment config.

        Args:
            path_provider: the run folder.
            config: the resolved experiment config.
            resumed_at: when the run continues in its own folder, the update of the
                checkpoint it resumed from (rows after it are the interrupted run's), or -1
                without a checkpoint (the run starts again).
        """
        if self.is_active or not is_rank0():
            return
        self.path_provider = path_provider
        self.resumed_at = resumed_at
        try:
            self._start(path_provider, config)
        except BaseException as exc:
            # cut short (a stop signal, a refused store): what it opened says how it ended,
            # not "running" (an MLflow run that started)
            self.outcome = "failed" if isinstance(exc, Exception) else "stopped"
            with contextlib.suppress(Exception):
                self._close()
            raise
        self.is_active = True

    def check(self) -> None:
        """What `start` would refuse that can be told without writing anything (a tracking
        server that does not answer): `noether-train` asks before it makes the run folder,
        and `--dry-run` asks too. Nothing here."""

    def log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        """Writes one row of metrics at the given position."""
        if self.is_active:
            self._log(metrics, update=update, epoch=epoch, sample=sample)

    def summary(self, metrics: dict[str, float]) -> None:
        """Records final values (best metric, totals, ...) of the run."""
        if self.is_active:
            self._summary(metrics)

    def flush(self) -> None:
        """Makes every row logged so far durable (before a checkpoint is written)."""

    def close(self, outcome: RunOutcome = "finished") -> None:
        """Flushes and closes the sink; later calls do nothing.

        Args:
            outcome: how the run ended, for trackers that record it (MLflow's run status):
                "finished", "stopped" (by a signal, to be resumed) or "failed".
        """
        if self.is_active:
            self.is_active = False
            self.outcome = outcome
            self._close()

    def _start(self, path_provider: PathProvider, config: dict[str, Any]) -> None:
        """Opens the sink (rank 0 only)."""

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        """Writes one row."""

    def _summary(self, metrics: dict[str, float]) -> None:
        """Writes summary values."""

    def _close(self) -> None:
        """Releases files and connections."""
