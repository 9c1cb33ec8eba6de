"""The `mlflow` tracker: one MLflow run per run folder, continued when the run is resumed.

mlflow is an optional extra (`pip install 'noether-core[mlflow]'`: the mlflow-skinny client
and the sqlalchemy and alembic that its SQLite store needs); it is imported when the tracker is
built, so a missing package fails before training starts.

Where runs go is MLflow's own choice where one is made: the config's `tracking_uri`, else
`MLFLOW_TRACKING_URI` (or `mlflow.set_tracking_uri`), else a SQLite store `mlflow.db` with its
artifacts in `mlartifacts/`, both inside the run folder (`mlflow ui --backend-store-uri
sqlite:///<run_dir>/mlflow.db` shows it). MLflow's file store (`./mlruns`) is in maintenance
mode and refused by default since MLflow 3.7, so it is not the default here.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from noether.config import KindError
from noether.config.schemas.tracker import MlflowTrackerConfig
from noether.core.build import BuildError
from noether.core.runs import PathProvider
from noether.core.text_files import replace_text
from noether.core.trackers.base import TrackerBase
from noether.core.trackers.mlflow_batches import WAITING_FILE, MlflowBatches, quick_requests

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'noether-core[mlflow]'"

STORE_FILE = "mlflow.db"
"""In the run folder: the SQLite store, where no tracking URI is set."""

RUN_FILE = "mlflow_run.json"
"""In the run folder: the MLflow run of this run folder and the last update sent to it."""

FLUSH_SECONDS = 1.0
"""Rows are sent to MLflow in one batch at most this often (and on `flush()` and `close()`)."""

PROBE_SECONDS = 10.0
"""How long the start waits for a tracking server to answer at all."""


def import_mlflow() -> Any:
    """Imports mlflow, or says how to install it."""
    try:
        import mlflow
        import mlflow.entities
        import mlflow.exceptions
        import mlflow.tracking
    except ImportError:
        raise KindError(
            f"the mlflow tracker needs the mlflow package, which is not installed: {INSTALL_HINT}"
        ) from None
    return mlflow


def _check_sqlite_store_installed() -> None:
    """MLflow's SQLite store needs sqlalchemy and alembic, which mlflow-skinny lacks: said
    when the tracker is built (`--dry-run` too), not as MLflow's 'unsupported URI' at start."""
    missing = [name for name in ("sqlalchemy", "alembic") if importlib.util.find_spec(name) is None]
    if missing:
        are = "is" if len(missing) == 1 else "are"
        raise KindError(
            f"the mlflow tracker's store in the run folder (no tracking_uri) needs "
            f"{' and '.join(missing)}, which {are} not installed: {INSTALL_HINT}"
        )


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """MLflow params from a nested config: dotted keys (`model.optimizer.lr`), list items of
    mappings by index (`trainer.callbacks.0.kind`), other values as JSON, strings as they are."""
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            params.update(flatten_params(value, name + "."))
        elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            params.update(
                flatten_params({str(i): item for i, item in enumerate(value)}, name + ".")
            )
        else:
            params[name] = value if isinstance(value, str) else json.dumps(value)
    return params


def _check_server_answers(uri: str) -> None:
    """Fails at once when an HTTP tracking server does not answer: MLflow's client retries a
    refused connection for minutes before it raises, and a signal waits for it. Any HTTP
    answer (also 401 or 404 from a proxy) or a TLS handshake leaves the rest to MLflow."""
    if urlparse(uri).scheme not in ("http", "https"):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_SECONDS):
            pass
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, ssl.SSLError):
            return  # it answers; its certificate is MLflow's to check (MLFLOW_TRACKING_*)
        raise BuildError(
            f"tracker mlflow ({uri}): the tracking server does not answer ({reason}): start "
            "it, or correct tracking_uri (or MLFLOW_TRACKING_URI)"
        ) from None


def _sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


class MlflowTracker(TrackerBase):
    """Logs every metric at step = update (epoch and sample as `counters/epoch` and
    `counters/sample`), the resolved config as params (dotted keys) and as the artifact
    `config.yaml`, and summary values as metrics `summary/<key>` at the last logged update.

    The run's id is kept in `<run_dir>/mlflow_run.json`; a run resumed in its own folder
    continues that MLflow run (one per store: a resume in another store starts a new run there
    and says so, and a later resume in the first store continues its run). MLflow cannot
    delete logged points, so the rows and summary values that the interrupted run already sent
    (after the checkpoint; by MLflow's own record, whether or not it lived to note them in the
    file) are kept and not sent again; params keep their first value (the changed config is in
    the `config.yaml` artifact).
    """

    config: MlflowTrackerConfig

    def __init__(self, config: MlflowTrackerConfig) -> None:
        super().__init__(config)
        self._mlflow = import_mlflow()
        if config.tracking_uri is None and not self._mlflow.is_tracking_uri_set():
            _check_sqlite_store_installed()  # the run folder's own store, used at the start
        self._metric = self._mlflow.entities.Metric
        self._client: Any = None
        self._run_id = ""
        self._run_file = Path()
        self._stored: dict[str, Any] = {}
        self._pending: list[Any] = []
        self._batches: MlflowBatches | None = None
        self._continued = False
        """The run folder's MLflow run is continued (its earlier parts sent rows and values)."""
        self._artifact_uri = ""
        """Where the continued run's artifacts are, as its store recorded it."""
        self._skip_up_to = -1
        """Resumed: the last update whose rows the interrupted run sent (not sent again)."""
        self._sent_up_to = -1
        self._last_update = 0
        self._last_flush = 0.0

    def _configured_uri(self) -> str | None:
        """The config's tracking_uri, else MLflow's own (MLFLOW_TRACKING_URI), else None."""
        configured_uri = self.config.tracking_uri
        if configured_uri is None and self._mlflow.is_tracking_uri_set():
            configured_uri = self._mlflow.get_tracking_uri()
        return configured_uri

    def check(self) -> None:
        """A tracking server that does not answer, before the run folder is made."""
        configured_uri = self._configured_uri()
        if configured_uri is not None:
            _check_server_answers(configured_uri)

    def _start(self, path_provider: PathProvider, config: dict[str, Any]) -> None:
        run_dir = path_provider.run_dir.resolve()
        self._run_file = run_dir / RUN_FILE
        self._last_update = self.start_update
        configured_uri = self._configured_uri()
        uri = configured_uri or _sqlite_uri(run_dir / STORE_FILE)
        _check_server_answers(uri)
        try:
            if configured_uri is None:
                self._create_store(run_dir / STORE_FILE)
            self._client = self._mlflow.tracking.MlflowClient(tracking_uri=uri)
            existing_params = self._open_run(path_provider, config, configured_uri)
            self._batches = MlflowBatches(self._mlflow, self._client, self._run_id)
            if self._continued:
                self._batches.send_kept(run_dir / WAITING_FILE, self.start_update)
            self._log_params(flatten_params(config), existing_params)
            if self._continued and configured_uri is None and not self._artifacts_inside(run_dir):
                logger.warning(
                    "mlflow: run %s keeps its artifacts at %s, outside this run folder (it was "
                    "moved or copied): config.yaml is not logged there",
                    self._run_id,
                    self._artifact_uri,
                )
            elif path_provider.config_path.is_file():
                self._client.log_artifact(self._run_id, str(path_provider.config_path))
            else:
                self._client.log_dict(self._run_id, config, "config.yaml")
        except ImportError as exc:  # e.g. the SQLite store without sqlalchemy
            raise KindError(f"tracker mlflow: {exc}: {INSTALL_HINT}") from exc
        except self._mlflow.exceptions.MlflowException as exc:
            raise BuildError(f"tracker mlflow ({uri}): {exc}") from exc
        self._last_flush = time.monotonic()

    def _create_store(self, store: Path) -> None:
        """Creates the run folder's SQLite store whole, unless it exists: MLflow builds its
        tables in many steps (seconds), and a store that a signal or kill -9 stopped half-way
        failed every later resume ('table ... already exists'). It is built under another
        name, which a later start discards, and renamed when complete."""
        if store.exists():
            return
        partial = store.with_name(store.name + ".partial")
        for suffix in ("", "-journal", "-wal", "-shm"):
            partial.with_name(partial.name + suffix).unlink(missing_ok=True)
        self._mlflow.tracking.MlflowClient(tracking_uri=_sqlite_uri(partial)).search_experiments(
            max_results=1
        )
        os.replace(partial, store)

    def _open_run(
        self, path_provider: PathProvider, config: dict[str, Any], configured_uri: str | None
    ) -> dict[str, str]:
        """Continues the run folder's MLflow run when resumed, else starts one; returns the
        params the run already has."""
        known = _known_runs(_read_json(self._run_file)) if self.resumed_at is not None else []
        others = [entry for entry in known if entry.get("tracking_uri") != configured_uri]
        stored = next(
            (entry for entry in known if entry.get("tracking_uri") == configured_uri), None
        )
        if stored is not None:
            try:
                run = self._client.get_run(stored["run_id"])
            except self._mlflow.exceptions.MlflowException as exc:
                logger.warning("mlflow: cannot continue run %s (%s)", stored["run_id"], exc)
            else:
                self._run_id = run.info.run_id
                self._artifact_uri = run.info.artifact_uri
                self._stored = {**stored, "earlier": others}
                _write_json(self._run_file, self._stored)
                self._continued = True
                self._skip_up_to = self._sent_up_to = max(
                    int(stored.get("sent_up_to", -1)), self._last_step_logged()
                )
                self._client.update_run(self._run_id, status="RUNNING")
                logger.info("mlflow: continuing run %s", self._run_id)
                if self._skip_up_to > self.start_update:
                    logger.warning(
                        "mlflow: run %s holds rows up to update %d, which the interrupted run "
                        "sent after this resume's checkpoint (update %d): MLflow cannot "
                        "delete them, so they stay and this run's rows up to update %d are not "
                        "sent (the same values unless the config or the checkpoint changed; "
                        "metrics.jsonl and TensorBoard hold this run's)",
                        self._run_id,
                        self._skip_up_to,
                        self.start_update,
                        self._skip_up_to,
                    )
                return dict(run.data.params)
        for entry in others:  # a resume in another store: the run there stays as it was
            logger.warning(
                "mlflow: this run folder's MLflow run %s is in %s, not in this resume's store "
                "%s: a new MLflow run is started there (resume with that store to continue %s)",
                entry["run_id"],
                _store_name(entry.get("tracking_uri")),
                _store_name(configured_uri),
                entry["run_id"],
            )
        name = self.config.experiment_name or str(config.get("name") or path_provider.name)
        artifacts = None if configured_uri else (self._run_file.parent / "mlartifacts").as_uri()
        run = self._client.create_run(
            self._experiment_id(name, artifacts),
            run_name=f"{path_provider.name}/{path_provider.run_id}",
            tags={"noether.run_dir": str(self._run_file.parent)},
        )
        self._run_id = run.info.run_id
        self._stored = {"tracking_uri": configured_uri, "run_id": self._run_id, "earlier": others}
        _write_json(self._run_file, self._stored)
        return {}

    def _artifacts_inside(self, run_dir: Path) -> bool:
        """Whether the run's artifacts lie in `run_dir`: the store records where they were
        when the run began, as an absolute path, which a moved or copied run folder keeps."""
        uri = urlparse(self._artifact_uri)
        if uri.scheme != "file":
            return True  # not a folder of this machine
        return Path(url2pathname(uri.path)).resolve().is_relative_to(run_dir)

    def _last_step_logged(self) -> int:
        """The last update whose whole row the run holds (-1: none), read from MLflow itself:
        a run killed after sending rows but before recording it in RUN_FILE sent them all
        the same. `counters/sample` is the last metric of every row, sent in order."""
        history = self._client.get_metric_history(self._run_id, "counters/sample")
        return max((int(metric.step) for metric in history), default=-1)

    def _experiment_id(self, name: str, artifact_location: str | None) -> str:
        """The id of the experiment `name`, created when missing."""
        experiment = self._client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        try:
            return str(self._client.create_experiment(name, artifact_location=artifact_location))
        except self._mlflow.exceptions.MlflowException:
            experiment = self._client.get_experiment_by_name(name)  # created meanwhile
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def _log_params(self, params: dict[str, str], existing: dict[str, str]) -> None:
        """Logs the params within MLflow's limits: longer values are cut, too long keys left
        out; a resumed run keeps the values it has (MLflow refuses to change a param)."""
        from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH

        too_long = [key for key in params if len(key) > MAX_ENTITY_KEY_LENGTH]
        if too_long:
            logger.warning(
                "mlflow: params with keys over %d characters left out: %s",
                MAX_ENTITY_KEY_LENGTH,
                ", ".join(too_long),
            )
        cut = {
            key: value
            if len(value) <= MAX_PARAM_VAL_LENGTH
            else value[: MAX_PARAM_VAL_LENGTH - 3] + "..."
            for key, value in params.items()
            if len(key) <= MAX_ENTITY_KEY_LENGTH
        }
        # a key under one the run has (`trainer.initializer.kind` where `trainer.initializer`
        # was null) or above one would contradict it: such a value keeps its first form too
        nested = {
            key
            for key in cut
            if key not in existing and any(_nests(key, other) for other in existing)
        }
        changed = sorted(
            key for key, value in cut.items() if existing.get(key, value) != value or key in nested
        )
        if changed:
            logger.warning(
                "mlflow: params keep their first value (the new config is in the artifact "
                "config.yaml): %s",
                ", ".join(changed),
            )
        param = self._mlflow.entities.Param
        assert self._batches is not None  # made by _start before
        self._batches.send_params(
            [
                param(key, value)
                for key, value in cut.items()
                if key not in existing and key not in nested
            ]
        )

    def _log(self, metrics: dict[str, float], update: int, epoch: int, sample: int) -> None:
        self._last_update = update
        if update > self._skip_up_to:  # else the interrupted run sent this row already
            timestamp = int(time.time() * 1000)
            row = {**metrics, "counters/epoch": epoch, "counters/sample": sample}
            self._pending.extend(
                self._metric(key, value, timestamp, update) for key, value in row.items()
            )
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def _summary(self, metrics: dict[str, float]) -> None:
        keys = {key: f"summary/{key}" for key in metrics}
        if self._continued and self._last_update <= max(self._skip_up_to, self.start_update):
            # an interrupted part may have sent it: up to the last row it sent, and at the
            # start (a part killed before its first row sends its start's values all the same)
            keys = {
                key: name
                for key, name in keys.items()
                if not self._holds(name, metrics[key], self._last_update)
            }
        timestamp = int(time.time() * 1000)
        self._pending.extend(
            self._metric(name, metrics[key], timestamp, self._last_update)
            for key, name in keys.items()
        )

    def _holds(self, key: str, value: float, step: int) -> bool:
        """Whether the run has this value of `key` at `step` (sent by the interrupted run:
        MLflow cannot delete it, and a second point would show twice)."""
        return any(
            metric.step == step and _same(metric.value, value)
            for metric in self._client.get_metric_history(self._run_id, key)
        )

    def flush(self) -> None:
        """Sends every pending row to MLflow now (the loop calls it before a checkpoint);
        while the server does not answer, they wait (see `mlflow_batches`)."""
        self._last_flush = time.monotonic()
        if self._batches is None:
            return
        pending, self._pending = self._pending, []
        if self._batches.send(pending, self._last_update) and self._last_update > self._sent_up_to:
            self._sent_up_to = self._last_update
            _write_json(self._run_file, {**self._stored, "sent_up_to": self._sent_up_to})

    def _close(self) -> None:
        batches, self._batches = self._batches, None
        if batches is None or batches.gone:
            return
        pending, self._pending = self._pending, []
        if not batches.send(pending, self._last_update, force=True):
            kept = self._run_file.parent / WAITING_FILE
            batches.keep_waiting(kept)
            raise ConnectionError(
                f"mlflow: {len(batches.waiting)} metric values, up to update "
                f"{self._last_update}, were not sent to run {self._run_id}: the server did not "
                f"take them (see the warning above); they are kept in {kept}, and a resume of "
                "this run sends them"
            )
        with quick_requests():
            self._client.set_terminated(self._run_id, status=_STATUS[self.outcome])
        self._client = None


_STATUS = {"finished": "FINISHED", "stopped": "KILLED", "failed": "FAILED"}
"""MLflow's run status of each outcome (a stopped run is RUNNING again once resumed)."""


def _nests(key: str, other: str) -> bool:
    """Whether one of two dotted keys lies under the other (`a.b.c` and `a.b`)."""
    return key.startswith(other + ".") or other.startswith(key + ".")


def _same(stored: float, value: float) -> bool:
    """Equal values, NaN equal to NaN."""
    return stored == value or (math.isnan(stored) and math.isnan(value))


def _known_runs(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """The MLflow runs of a run folder, one per store it was run in: the latest first, then
    those of stores it left (`earlier`), each as {tracking_uri, run_id, sent_up_to}."""
    entries = [stored, *(e for e in stored.get("earlier", ()) if isinstance(e, dict))]
    return [
        {key: value for key, value in entry.items() if key != "earlier"}
        for entry in entries
        if isinstance(entry.get("run_id"), str)
    ]


def _store_name(tracking_uri: str | None) -> str:
    return tracking_uri or f"the run folder's own store ({STORE_FILE})"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Rewrites the file whole, atomically."""
    replace_text(path, json.dumps(value, indent=2) + "\n")
