"""The `tensorboard` tracker: real TensorBoard event files in the run folder."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from noether.config.schemas.tracker import TensorboardTrackerConfig
from noether.core.runs import PathProvider
from noether.core.trackers.base import TrackerBase


class TensorboardTracker(TrackerBase):
    """Writes every metric as a scalar at step = update into `<run_dir>/<subdir>`.

    Epoch and sample are written as scalars `counters/epoch` and `counters/sample`, so plots
    can be read against either; the resolved config is stored as text (a resumed run's at the
    first update it writes), the summary as scalars
    under `summary/` at the last logged update (in a resumed run, before its first row: the
    update it resumed at).
    """

    config: TensorboardTrackerConfig

    def __init__(self, config: TensorboardTrackerConfig) -> None:
        super().__init__(config)
        self._writer: Any = None
        self._last_update = 0
        self._log_dir = Path()

    def _start(self, path_provider: PathProvider, config: dict[str, Any]) -> None:
        # imported here: tensorboard is slow to import and only needed by this kind
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from torch.utils.tensorboard import SummaryWriter

        log_dir = self._log_dir = path_provider.run_dir / self.config.subdir
        # resumed: TensorBoard's readers drop the earlier events from the purge step on
        # (from step 0 when the run starts again: its summary values are sent again)
        purge_step = None if self.resumed_at is None else self.resumed_at + 1
        with self._naming_errors():  # a full disk as the run starts: the file named
            self._writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
            if purge_step is None:
                # a new run starts a session too: the dashboards' reader takes the first start it
                # reads for the run's own and purges from the next, a resume's, on
                start = Event(step=0, session_log=SessionLog(status=SessionLog.START))
                self._writer.file_writer.add_event(start)
            # a resumed run's summary values of its start go to the resume step, not a second
            # time to step 0 (which the purge keeps)
            self._last_update = self.start_update
            # at the resumed part's first own step: a later resume from the same checkpoint
            # purges it, and the config each part ran with is shown once, from where it applies
            self._writer.add_text(
                "config",
                "```\n" + json.dumps(config, indent=2) + "\n```",
                global_step=purge_step or 0,
            )

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self._last_update = update
        with self._naming_errors():
            for key, value in metrics.items():
                self._writer.add_scalar(key, value, global_step=update)
            self._writer.add_scalar("counters/epoch", epoch, global_step=update)
            self._writer.add_scalar("counters/sample", sample, global_step=update)

    def flush(self) -> None:
        if self._writer is not None:
            with self._naming_errors():
                self._writer.flush()

    def _summary(self, metrics: dict[str, float]) -> None:
        with self._naming_errors():
            for key, value in metrics.items():
                self._writer.add_scalar(f"summary/{key}", value, global_step=self._last_update)
            self._writer.flush()

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        with self._naming_errors():
            writer.close()

    @contextlib.contextmanager
    def _naming_errors(self) -> Iterator[None]:
        """An error of TensorBoard's writer (raised again from its writing thread, with no
        file or a file as bytes) names the event file's folder, or the file itself."""
        try:
            yield
        except OSError as exc:
            where = os.fsdecode(exc.filename) if exc.filename is not None else str(self._log_dir)
            raise OSError(exc.errno, f"TensorBoard events: {exc.strerror}", where) from exc
