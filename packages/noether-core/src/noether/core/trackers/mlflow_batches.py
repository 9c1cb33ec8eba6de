"""Sending an MLflow run's metrics in batches while training goes on.

A name MLflow refuses fails its whole batch: the batch is sent again key by key and the
refused keys are left out from then on. A server that does not answer (down, restarting, a
network cut) must not hold training up: MLflow's client retries a request for minutes by
default, long enough to miss a checkpoint or a pre-emption's grace period. During training the
requests are therefore quick (no retries, a short timeout, unless the user set MLflow's own
variables), rows that could not be sent wait in memory, and sending is tried again at most
every `RETRY_SECONDS`. Rows still waiting when the run ends are kept in the run folder
(`WAITING_FILE`), and a resume of the run sends them. A run deleted in MLflow meanwhile is said
once; nothing more is sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from noether.core.text_files import replace_text

logger = logging.getLogger(__name__)

WAITING_FILE = "mlflow_waiting.json"
"""In the run folder: rows the server had not taken when the run ended, for its resume."""

RETRY_SECONDS = 60.0
"""While the server does not answer: how often sending is tried again."""

QUICK_REQUEST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
"""MLflow's request settings while training (where the environment sets none)."""


@contextlib.contextmanager
def quick_requests() -> Iterator[None]:
    """MLflow requests without retries and with a short timeout, for the calls within."""
    added = {key: value for key, value in QUICK_REQUEST.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


class MlflowBatches:
    """Sends the metrics of one MLflow run (see the module docstring).

    Args:
        mlflow: the imported mlflow package.
        client: an `MlflowClient` of the run's store.
        run_id: the run.
    """

    def __init__(self, mlflow: Any, client: Any, run_id: str) -> None:
        self._mlflow = mlflow
        self._client = client
        self._run_id = run_id
        self.refused: set[str] = set()
        """Metric names MLflow refused: left out of the run."""
        self.waiting: list[Any] = []
        """Rows not sent yet: the server did not answer."""
        self.gone = False
        """The run was deleted in MLflow: nothing more is sent."""
        self._retry_at = 0.0

    def send(self, items: list[Any], update: int, force: bool = False) -> bool:
        """Sends the waiting rows and `items` (metrics of updates up to `update`); True when
        all of them went out. While the server does not answer, they wait, and sending is
        tried again only `RETRY_SECONDS` after the last try unless `force`d."""
        if self.gone:
            return False
        self.waiting += items
        if not self.waiting or (time.monotonic() < self._retry_at and not force):
            return not self.waiting
        try:
            with quick_requests():
                self._send_all("metrics", self.waiting)
        except self._mlflow.exceptions.MlflowException as exc:
            if exc.error_code == "INVALID_PARAMETER_VALUE":  # raised again: the run is deleted
                self.gone = True
                self.waiting = []
                logger.error(
                    "mlflow: run %s was deleted in MLflow (at update %d): nothing more is sent "
                    "to it",
                    self._run_id,
                    update,
                )
                return False
            return self._wait(exc, update)
        except OSError as exc:
            return self._wait(exc, update)
        if self._retry_at:
            logger.warning("mlflow: the server answers again: rows up to update %d sent", update)
        self.waiting, self._retry_at = [], 0.0
        return True

    def _wait(self, error: Exception, update: int) -> bool:
        if not self._retry_at:
            logger.warning(
                "mlflow: rows of update %d on wait, training goes on: the server did not take "
                "them (%s); sending is tried again every %d s",
                update,
                str(error).splitlines()[0] if str(error) else type(error).__name__,
                RETRY_SECONDS,
            )
        self._retry_at = time.monotonic() + RETRY_SECONDS
        return False

    def _deleted(self) -> bool:
        try:
            with quick_requests():
                return bool(self._client.get_run(self._run_id).info.lifecycle_stage == "deleted")
        except self._mlflow.exceptions.MlflowException:
            return False

    def keep_waiting(self, path: Path) -> None:
        """Writes the waiting rows to `path` (`WAITING_FILE`), for a resume to send."""
        rows = [[item.key, item.value, item.timestamp, item.step] for item in self.waiting]
        replace_text(path, json.dumps(rows) + "\n")

    def send_kept(self, path: Path, up_to: int) -> None:
        """Sends the rows that an earlier part of the run kept in `path`, those of updates up
        to `up_to` (the resumed checkpoint: the resumed run logs the later ones again)."""
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            logger.warning("mlflow: %s cannot be read (%s): its rows are not sent", path, exc)
            return
        metric = self._mlflow.entities.Metric
        kept = [metric(*row) for row in rows if row[3] <= up_to]
        if self.send(kept, up_to, force=True):
            path.unlink()
            logger.info("mlflow: sent the %d values the run had kept in %s", len(kept), path)

    def send_params(self, params: list[Any]) -> None:
        """Sends params (at the start: an error fails the start, as the run has not begun)."""
        self._send_all("params", list(params))

    def _send_all(self, field: str, items: list[Any]) -> None:
        """`log_batch` within MLflow's batch limits, each batch taken off `items` once sent
        (a failure leaves only what was not); a refused batch is sent again key by key."""
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

        size = MAX_METRICS_PER_BATCH if field == "metrics" else MAX_PARAMS_TAGS_PER_BATCH
        while items:
            chunk = [item for item in items[:size] if item.key not in self.refused]
            try:
                if chunk:
                    self._client.log_batch(self._run_id, **{field: chunk})
            except self._mlflow.exceptions.MlflowException as exc:
                if exc.error_code != "INVALID_PARAMETER_VALUE" or self._deleted():
                    raise
                self._send_key_by_key(field, chunk)
            del items[:size]

    def _send_key_by_key(self, field: str, items: Sequence[Any]) -> None:
        by_key: dict[str, list[Any]] = {}
        for item in items:
            by_key.setdefault(item.key, []).append(item)
        for key, group in by_key.items():
            try:
                self._client.log_batch(self._run_id, **{field: group})
            except self._mlflow.exceptions.MlflowException as exc:
                if exc.error_code != "INVALID_PARAMETER_VALUE":
                    raise
                self.refused.add(key)
                logger.warning("mlflow refused %s %r, left out of the run: %s", field, key, exc)


__all__ = ["MlflowBatches", "quick_requests"]
