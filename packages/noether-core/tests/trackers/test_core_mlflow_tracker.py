"""The mlflow tracker, read back through MLflow's own client.

The tests share one SQLite store (`tracking_uri`): creating an MLflow database runs its
migrations, seconds each; the default store inside the run folder is covered end to end by
tests/test_trackers_cli.py.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from noether.config import KindError
from noether.config.schemas.tracker import MlflowTrackerConfig
from noether.core.runs import PathProvider
from noether.core.trackers.mlflow import MlflowTracker, flatten_params

CONFIG = {
    "name": "exp",
    "seed": 3,
    "model": {"kind": "mlp", "optimizer": {"kind": "adamw", "lr": 0.001, "schedule": None}},
    "trainer": {
        "max_epochs": 2,
        "forward_properties": ["x", "mask"],
        "callbacks": [{"kind": "checkpoint", "every_n_epochs": 1}],
    },
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store whose experiments keep their artifacts next to it (MLflow's default
    for a store named by URI is ./mlruns in the working directory)."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    for name in ("tests", "exp"):
        MlflowClient(uri).create_experiment(name, (folder / name).as_uri())
    return uri


def started(store: str, provider: PathProvider, resumed_at: int | None = None) -> MlflowTracker:
    tracker = MlflowTracker(MlflowTrackerConfig(tracking_uri=store, experiment_name="tests"))
    tracker.start(provider, CONFIG, resumed_at=resumed_at)
    return tracker


def run_id_of(provider: PathProvider) -> str:
    return str(json.loads((provider.run_dir / "mlflow_run.json").read_text())["run_id"])


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


START_WITH_THE_DEFAULT_STORE = """
import sys
from pathlib import Path
from noether.config.schemas.tracker import MlflowTrackerConfig
from noether.core.runs import PathProvider
from noether.core.trackers.mlflow import MlflowTracker

provider = PathProvider(Path(sys.argv[1]), "exp", sys.argv[2], reuse_existing=True)
MlflowTracker(MlflowTrackerConfig()).start(provider, {"name": "exp"})
"""


def test_a_start_killed_while_mlflow_creates_its_store_leaves_none_that_fails_the_next(
    tmp_path: Path,
) -> None:
    """MLflow creates its tables in many steps, seconds in all: a store that kill -9 (or a
    signal) stopped half-way failed every later start with `table ... already exists`."""
    provider = PathProvider(tmp_path, "exp")
    command = [sys.executable, "-c", START_WITH_THE_DEFAULT_STORE, str(tmp_path), provider.run_id]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(provider.run_dir.glob("mlflow.db*")):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.5))  # while the tables are created
    process.kill()
    process.communicate()

    resumed = PathProvider(tmp_path, "exp", provider.run_id, reuse_existing=True)
    tracker = MlflowTracker(MlflowTrackerConfig())
    tracker.start(resumed, CONFIG, resumed_at=0)
    tracker.log({"loss": 0.5}, update=1, epoch=0, sample=8)
    tracker.close()
    client = MlflowClient(f"sqlite:///{(provider.run_dir / 'mlflow.db').as_posix()}")
    assert history(client, run_id_of(provider), "loss") == [(1, 0.5)]
    assert sorted(path.name for path in provider.run_dir.glob("mlflow.db*")) == ["mlflow.db"]


def test_params_are_the_config_flattened_to_dotted_keys() -> None:
    assert flatten_params(CONFIG) == {
        "name": "exp",
        "seed": "3",
        "model.kind": "mlp",
        "model.optimizer.kind": "adamw",
        "model.optimizer.lr": "0.001",
        "model.optimizer.schedule": "null",
        "trainer.max_epochs": "2",
        "trainer.forward_properties": '["x", "mask"]',
        "trainer.callbacks.0.kind": "checkpoint",
        "trainer.callbacks.0.every_n_epochs": "1",
    }


def test_metrics_by_update_params_artifact_and_summary_read_back(
    store: str, tmp_path: Path
) -> None:
    provider = PathProvider(tmp_path, "exp")
    tracker = started(store, provider)
    tracker.log({"loss/online/total": 2.0, "optim/lr": 0.1}, update=5, epoch=1, sample=40)
    tracker.log({"loss/online/total": 1.0}, update=10, epoch=2, sample=80)
    tracker.log({"loss/online/total": math.nan}, update=15, epoch=3, sample=120)
    tracker.summary({"best/loss": 0.5})
    tracker.close()

    client = MlflowClient(store)
    run = client.get_run(run_id_of(provider))
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"exp/{provider.run_id}"
    assert client.get_experiment(run.info.experiment_id).name == "tests"
    assert run.data.params == flatten_params(CONFIG)
    loss = history(client, run.info.run_id, "loss/online/total")
    assert loss[:2] == [(5, 2.0), (10, 1.0)] and loss[2][0] == 15 and math.isnan(loss[2][1])
    assert history(client, run.info.run_id, "optim/lr") == [(5, 0.1)]
    assert history(client, run.info.run_id, "counters/sample") == [(5, 40), (10, 80), (15, 120)]
    assert history(client, run.info.run_id, "summary/best/loss") == [(15, 0.5)]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["config.yaml"]
    config = client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path / "dl"))
    assert "adamw" in Path(config).read_text()


def test_a_resumed_run_continues_the_same_mlflow_run_without_duplicated_steps(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider = PathProvider(tmp_path, "exp")
    first = started(store, provider)
    for update in range(1, 7):
        first.log({"loss": 1.0 / update}, update=update, epoch=0, sample=update * 8)
    first.flush()  # the interrupted run sent rows up to update 6, its checkpoint is update 4
    run_id = run_id_of(provider)

    resumed = started(store, PathProvider(tmp_path, "exp", provider.run_id, reuse_existing=True), 4)
    # kept, said once (a resume from an earlier checkpoint, or with another lr, has others)
    assert (
        f"mlflow: run {run_id} holds rows up to update 6, which the interrupted run sent after "
        "this resume's checkpoint (update 4): MLflow cannot delete them, so they stay and this "
        "run's rows up to update 6 are not sent"
    ) in caplog.text
    for update in range(5, 9):
        resumed.log({"loss": 1.0 / update}, update=update, epoch=0, sample=update * 8)
    resumed.close()

    client = MlflowClient(store)
    assert run_id_of(provider) == run_id
    runs = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        filter_string=f"tags.`noether.run_dir` = '{provider.run_dir.resolve()}'",
    )
    assert [run.info.run_id for run in runs] == [run_id]  # one MLflow run for the run folder
    assert history(client, run_id, "loss") == [(u, 1.0 / u) for u in range(1, 9)]
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_resume_in_another_store_starts_a_run_there_and_one_back_continues_the_first(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MLFLOW_TRACKING_URI set for one resume only: that resume's rows go to a new run in its
    store, said so; back in the first store, the first run is continued, not a third begun."""
    other = f"sqlite:///{(tmp_path / 'other.db').as_posix()}"
    MlflowClient(other).create_experiment("tests", (tmp_path / "other").as_uri())
    provider = PathProvider(tmp_path, "exp")
    first = started(store, provider)
    for update in range(1, 5):
        first.log({"loss": float(update)}, update=update, epoch=0, sample=update * 8)
    first.close()
    first_id = run_id_of(provider)

    again = PathProvider(tmp_path, "exp", provider.run_id, reuse_existing=True)
    elsewhere = started(other, again, 4)
    elsewhere.log({"loss": 5.0}, update=5, epoch=0, sample=40)
    elsewhere.close()
    second_id = run_id_of(provider)
    assert second_id != first_id
    assert (
        f"mlflow: this run folder's MLflow run {first_id} is in {store}, not in this resume's "
        f"store {other}: a new MLflow run is started there"
    ) in caplog.text

    back = started(store, PathProvider(tmp_path, "exp", provider.run_id, reuse_existing=True), 5)
    back.log({"loss": 6.0}, update=6, epoch=0, sample=48)
    back.close()
    assert run_id_of(provider) == first_id
    assert history(MlflowClient(store), first_id, "loss") == [
        (u, float(u)) for u in (1, 2, 3, 4, 6)
    ]
    assert history(MlflowClient(other), second_id, "loss") == [(5, 5.0)]
    stored = json.loads((provider.run_dir / "mlflow_run.json").read_text())
    assert [entry["run_id"] for entry in stored["earlier"]] == [second_id]


def test_rows_a_killed_run_sent_but_had_not_recorded_as_sent_are_not_sent_again(
    store: str, tmp_path: Path
) -> None:
    provider = PathProvider(tmp_path, "exp")
    first = started(store, provider)
    for update in range(1, 4):
        first.log({"loss": 1.0 / update}, update=update, epoch=0, sample=update * 8)
    first.flush()  # the checkpoint of update 3: rows up to 3 sent and recorded
    recorded = (provider.run_dir / "mlflow_run.json").read_text()
    for update in range(4, 7):
        first.log({"loss": 1.0 / update}, update=update, epoch=0, sample=update * 8)
    first.flush()
    # killed between sending rows 4 to 6 and recording that it had: the file says 3
    (provider.run_dir / "mlflow_run.json").write_text(recorded)
    run_id = run_id_of(provider)

    resumed = started(store, PathProvider(tmp_path, "exp", provider.run_id, reuse_existing=True), 3)
    for update in range(4, 9):
        resumed.log({"loss": 1.0 / update}, update=update, epoch=0, sample=update * 8)
    resumed.close()

    client = MlflowClient(store)
    assert history(client, run_id, "loss") == [(u, 1.0 / u) for u in range(1, 9)]
    assert [step for step, _ in history(client, run_id, "counters/sample")] == list(range(1, 9))


@pytest.mark.parametrize("sent_past_checkpoint", [0, 2])
def test_a_resume_sends_no_summary_value_the_run_already_holds_at_its_step(
    store: str, tmp_path: Path, sent_past_checkpoint: int
) -> None:
    def rows(tracker: MlflowTracker, updates: range) -> None:
        for update in updates:
            tracker.log({"loss": 1.0 / update}, update=update, epoch=0, sample=update * 8)
            if update == 6:
                tracker.summary({"best": 0.5})

    provider = PathProvider(tmp_path, "exp")
    first = started(store, provider)
    rows(first, range(1, 5))
    first.flush()  # the checkpoint of update 4
    rows(first, range(5, 5 + sent_past_checkpoint))
    first.flush()  # then killed

    def resumed() -> MlflowTracker:
        again = PathProvider(tmp_path, "exp", provider.run_id, reuse_existing=True)
        return started(store, again, resumed_at=4)

    changed = resumed()  # `--resume --force` with a changed dataset: its start's summary
    changed.summary({"dataset/size": 48.0})
    changed.flush()  # killed before its first row
    last = resumed()  # the same checkpoint, the same changed config
    last.summary({"dataset/size": 48.0})
    rows(last, range(5, 9))
    last.close()

    client = MlflowClient(store)
    run_id = run_id_of(provider)
    assert history(client, run_id, "loss") == [(u, 1.0 / u) for u in range(1, 9)]
    assert history(client, run_id, "summary/dataset/size") == [(4, 48.0)]
    assert history(client, run_id, "summary/best") == [(6, 0.5)]


def test_a_run_stopped_by_a_signal_is_killed_until_resumed_and_a_failed_one_failed(
    store: str, tmp_path: Path
) -> None:
    client = MlflowClient(store)
    provider = PathProvider(tmp_path, "exp")
    stopped = started(store, provider)
    stopped.log({"loss": 1.0}, update=1, epoch=0, sample=8)
    stopped.close("stopped")
    run_id = run_id_of(provider)
    assert client.get_run(run_id).info.status == "KILLED"

    resumed = started(store, PathProvider(tmp_path, "exp", provider.run_id, reuse_existing=True), 1)
    assert client.get_run(run_id).info.status == "RUNNING"
    resumed.close("failed")
    assert client.get_run(run_id).info.status == "FAILED"


def test_params_over_mlflows_limits_are_cut_and_names_it_refuses_left_out(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    provider = PathProvider(tmp_path, "exp")
    tracker = MlflowTracker(MlflowTrackerConfig(tracking_uri=store))
    tracker.start(provider, {"name": "exp", "notes": "x" * (MAX_PARAM_VAL_LENGTH + 10)})
    tracker.log({"loss": 1.0, "bad(name)": 2.0}, update=1, epoch=0, sample=1)
    tracker.log({"loss": 0.5, "bad(name)": 3.0}, update=2, epoch=0, sample=2)
    tracker.close()

    client = MlflowClient(store)
    run = client.get_run(run_id_of(provider))
    assert len(run.data.params["notes"]) == MAX_PARAM_VAL_LENGTH
    assert history(client, run.info.run_id, "loss") == [(1, 1.0), (2, 0.5)]
    assert "bad(name)" not in run.data.metrics
    assert caplog.text.count("mlflow refused metrics 'bad(name)'") == 1


def test_mlflow_tracking_uri_is_used_when_the_config_names_none(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    provider = PathProvider(tmp_path, "exp")
    tracker = MlflowTracker(MlflowTrackerConfig())
    tracker.start(provider, CONFIG)
    tracker.close()
    run = MlflowClient(store).get_run(run_id_of(provider))
    assert MlflowClient(store).get_experiment(run.info.experiment_id).name == "exp"
    assert not (provider.run_dir / "mlflow.db").exists()


def test_without_mlflow_the_error_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` fails
    with pytest.raises(KindError, match=r"pip install 'noether-core\[mlflow\]'"):
        MlflowTracker(MlflowTrackerConfig())


def test_mlflow_skinny_alone_is_told_what_the_run_folders_store_needs(
    monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setitem(sys.modules, "alembic", None)  # not installed
    with pytest.raises(KindError) as raised:
        MlflowTracker(MlflowTrackerConfig())  # as `--dry-run` builds it
    assert str(raised.value) == (
        "the mlflow tracker's store in the run folder (no tracking_uri) needs alembic, which "
        "is not installed: pip install 'noether-core[mlflow]'"
    )
    MlflowTracker(MlflowTrackerConfig(tracking_uri=store))  # a store of its own: fine


def test_rows_wait_while_the_server_does_not_answer_and_go_out_when_it_does(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow.exceptions import MlflowException

    from noether.core.trackers import mlflow_batches

    monkeypatch.setattr(mlflow_batches, "RETRY_SECONDS", 0.0)  # each flush tries again
    provider = PathProvider(tmp_path, "exp")
    tracker = started(store, provider)
    tracker.log({"loss": 1.0}, update=1, epoch=0, sample=8)
    tracker.flush()
    log_batch = MlflowClient.log_batch
    retries = []

    def down(self: MlflowClient, *args: object, **kwargs: object) -> None:
        retries.append(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES"))
        raise MlflowException("API request to /api/2.0/mlflow/runs/log-batch failed: refused")

    monkeypatch.setattr(MlflowClient, "log_batch", down)
    for update in (2, 3):
        tracker.log({"loss": 1.0 / update}, update=update, epoch=0, sample=8 * update)
        tracker.flush()  # the loop's flush before a checkpoint: returns, training goes on
    assert retries == ["0", "0"]  # no minutes of MLflow's own retries
    assert caplog.text.count("mlflow: rows of update 2 on wait, training goes on") == 1
    with pytest.raises(ConnectionError, match="a resume of this run sends them"):
        tracker.close()  # still down at the end (a signal's stop): said, kept, not retried

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    again = PathProvider(tmp_path, "exp", provider.run_id, reuse_existing=True)
    resumed = started(store, again, 2)  # from the checkpoint of update 2
    resumed.log({"loss": 1.0 / 3}, update=3, epoch=0, sample=24)
    resumed.close()
    loss = history(MlflowClient(store), run_id_of(provider), "loss")
    assert loss == [(1, 1.0), (2, 0.5), (3, pytest.approx(1.0 / 3))]  # update 2 from the file
    assert not (provider.run_dir / "mlflow_waiting.json").exists()


def test_a_server_back_before_the_end_gets_every_waiting_row_once(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow.exceptions import MlflowException

    from noether.core.trackers import mlflow_batches

    monkeypatch.setattr(mlflow_batches, "RETRY_SECONDS", 0.0)
    provider = PathProvider(tmp_path, "exp")
    tracker = started(store, provider)
    log_batch = MlflowClient.log_batch

    def down(self: MlflowClient, *args: object, **kwargs: object) -> None:
        raise MlflowException("API request failed: Connection refused")

    monkeypatch.setattr(MlflowClient, "log_batch", down)
    for update in (1, 2):
        tracker.log({"loss": float(update)}, update=update, epoch=0, sample=8 * update)
        tracker.flush()
    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    tracker.log({"loss": 3.0}, update=3, epoch=0, sample=24)
    tracker.close()
    client = MlflowClient(store)
    assert history(client, run_id_of(provider), "loss") == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert client.get_run(run_id_of(provider)).info.status == "FINISHED"
    assert "mlflow: the server answers again: rows up to update 3 sent" in caplog.text


def test_a_run_deleted_in_mlflow_is_said_once_and_not_taken_for_refused_names(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider = PathProvider(tmp_path, "exp")
    tracker = started(store, provider)
    tracker.log({"loss": 1.0, "optim/lr": 0.1}, update=1, epoch=0, sample=8)
    tracker.flush()
    MlflowClient(store).delete_run(run_id_of(provider))
    for update in (2, 3):
        tracker.log({"loss": 0.5, "optim/lr": 0.1}, update=update, epoch=0, sample=8 * update)
        tracker.flush()
    tracker.close()  # the training's end: no error of the tracker's
    assert caplog.text.count(f"mlflow: run {run_id_of(provider)} was deleted in MLflow") == 1
    assert "refused" not in caplog.text
