"""A user's code that fails while training or while being built: `noether-train` exits 1 with
a message naming the error and the user's line, the traceback goes to the run's log file only,
and what the run wrote before the failure stays.

Real processes (and torchrun with two gloo ranks) on tests/failing_project, whose model drops
a feature at a chosen forward call and whose dataset can raise while being built.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).parent / "failing_project"
BIN = Path(sys.executable).parent
NOETHER_TRAIN = BIN / "noether-train"
TORCHRUN = BIN / "torchrun"
ON_TWO_RANKS = (TORCHRUN, "--standalone", "--nproc-per-node", "2", NOETHER_TRAIN)
"""`noether-train` under torchrun, with two ranks on this machine."""


def run(*command: str | Path, cwd: Path, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def run_dirs(project: Path) -> list[Path]:
    root = project / "runs" / "failing"
    return sorted(root.iterdir()) if root.is_dir() else []


def test_a_failing_forward_is_reported_with_the_users_line_and_the_traceback_in_train_log(
    project: Path,
) -> None:
    done = run(NOETHER_TRAIN, "experiment.yaml", cwd=project)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "training failed after update 5 of 8: RuntimeError:" in done.stderr
    assert "shapes cannot be multiplied" in done.stderr
    assert f"at {project / 'failing_runtime.py'}:" in done.stderr
    assert "in forward: return self.layer(x)" in done.stderr
    (run_dir,) = run_dirs(project)
    assert f"the traceback is in runs/failing/{run_dir.name}/train.log" in done.stderr
    log = (run_dir / "train.log").read_text()
    assert "Traceback (most recent call last)" in log
    assert 'failing_runtime.py", line' in log
    # what was logged before the failure is kept: one row per logged update 1..5
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert max(row["update"] for row in rows if "loss/online/total" in row) == 5


def test_sys_exit_in_the_users_code_is_a_failed_run_not_a_finished_one(project: Path) -> None:
    """sys.exit(0) in a forward (debugging code left in) used to end the run with exit 0 and
    nothing said, as if it had finished."""
    done = run(NOETHER_TRAIN, "experiment.yaml", "model.fail_at=0", "model.exit_at=3", cwd=project)
    assert done.returncode == 1, done.stderr
    assert "training failed after update 2 of 8: SystemExit: 0" in done.stderr, done.stderr
    assert "in forward: sys.exit(0)" in done.stderr
    assert "final loss" not in done.stdout


def test_a_run_whose_every_batch_was_skipped_as_non_finite_fails(project: Path) -> None:
    """skip_nan_loss with a NaN target in every batch: two updates, fewer skips than the
    limit, and nothing trained. It used to exit 0 and print a final loss of nan."""
    done = run(
        NOETHER_TRAIN,
        "experiment.yaml",
        "model.fail_at=0",
        "datasets.train.nan_item=3",
        "trainer.effective_batch_size=32",  # every batch holds item 3
        "trainer.skip_nan_loss=true",
        cwd=project,
    )
    assert done.returncode == 1, done.stderr
    assert "NaN or infinite in each of the 2 micro-batches this run trained" in done.stderr
    assert "Traceback" not in done.stderr and "final loss" not in done.stdout


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_dataset_that_raises_when_built_is_reported_without_a_traceback(
    project: Path, dry_run: bool
) -> None:
    flags = ["--dry-run"] if dry_run else []
    done = run(NOETHER_TRAIN, *flags, "experiment.yaml", "datasets.train.broken=true", cwd=project)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "building the experiment failed: KeyError: 'pressure'" in done.stderr
    assert "failing_runtime.py:" in done.stderr and "in read_columns" in done.stderr
    # train and val are often one class: which one failed, and where it is written
    assert "while building datasets.train (experiment.yaml:7)" in done.stderr
    if dry_run:
        assert run_dirs(project) == []
    else:
        (run_dir,) = run_dirs(project)
        assert "KeyError: 'pressure'" in (run_dir / "train.log").read_text()


def test_a_rank_that_torchrun_stops_because_another_failed_to_start_says_so(
    project: Path,
) -> None:
    """torchrun sends SIGTERM to the other ranks when one fails: their "stopped by SIGTERM,
    resume with ..." alone sent users to a resume that fails the same way."""
    done = run(
        *ON_TWO_RANKS,
        "experiment.yaml",
        "datasets.train.broken_on_rank=1",
        cwd=project,
    )
    assert done.returncode == 1
    assert "[rank 1] " in done.stderr and "building the experiment failed: KeyError" in done.stderr
    stopped = re.search(r"noether-train: stopped by SIGTERM before training began.*", done.stderr)
    if stopped is None:  # rank 0 lost its peer in a collective before torchrun stopped it
        assert "which all ranks join: if another rank failed first" in done.stderr, done.stderr
    else:
        assert stopped.group().endswith(
            "(torchrun sends SIGTERM to every rank when one fails: if one did, its own error "
            "says why)"
        ), stopped.group()


def test_a_non_finite_loss_that_the_ranks_find_together_is_said_once(project: Path) -> None:
    """Every rank agrees on each skip, so the warning is rank 0's alone (one copy per rank
    made 8 lines of one event on 8 GPUs); so is the error that stops every rank."""
    nan_on_two_ranks = (
        *ON_TWO_RANKS,
        "experiment.yaml",
        "model.fail_at=0",
        "datasets.train.nan_item=3",
    )
    done = run(*nan_on_two_ranks, "trainer.skip_nan_loss=true", cwd=project)
    assert done.returncode == 0, done.stderr
    skips = [line for line in done.stderr.splitlines() if "non-finite loss: skipped" in line]
    assert len(skips) == 2, done.stderr  # item 3 is in one batch of each of the 2 epochs
    assert not any(line.startswith("[rank 1]") for line in skips), done.stderr
    stopped = run(*nan_on_two_ranks, cwd=project)  # stop_on_nan_loss, the default
    assert stopped.returncode == 1, stopped.stderr
    errors = [line for line in stopped.stderr.splitlines() if "became NaN or infinite" in line]
    assert len(errors) == 1 and not errors[0].startswith("[rank 1]"), stopped.stderr


def test_a_failure_on_one_rank_leaves_its_traceback_in_that_ranks_log(project: Path) -> None:
    done = run(
        *ON_TWO_RANKS,
        "experiment.yaml",
        "model.fail_on_rank=1",
        cwd=project,
    )
    assert done.returncode == 1
    assert "[rank 1]" in done.stderr
    assert "training failed after update 5 of 8: RuntimeError:" in done.stderr
    assert "noether/core/" not in done.stderr  # no frames of ours (torchrun prints its own)
    # rank 0 lost its peer in DDP's gradient all_reduce (or, later, in the loop's own): its
    # message points to rank 1's
    assert re.search(
        r"in torch.distributed's all_reduce( of the gradients \(DDP, in backward\))?, which "
        "all ranks join: if another rank failed first, its own error says why",
        done.stderr,
    ), done.stderr
    (run_dir,) = run_dirs(project)
    assert f"the traceback is in runs/failing/{run_dir.name}/train.rank1.log" in done.stderr
    rank_log = (run_dir / "train.rank1.log").read_text()
    assert "Traceback (most recent call last)" in rank_log
    assert "in forward" in rank_log and "INFO" not in rank_log  # errors only


@pytest.mark.parametrize("fail_on_rank", [None, 1])
def test_each_rank_exits_with_its_own_code_where_the_teardown_would_abort(
    project: Path, fail_on_rank: int | None
) -> None:
    """torch's C++ threads (gloo's, DDP's, the store's) can abort a rank in the interpreter's
    finalization (134; a failed rank's open process group did in 1 of 8 runs on a loaded
    host), which torchrun reports as a crash. The model here aborts there every time."""
    fails = ["model.fail_at=6", f"model.fail_on_rank={fail_on_rank}"] if fail_on_rank else []
    done = run(
        *ON_TWO_RANKS,
        "experiment.yaml",
        "model.fail_at=0",
        *fails,
        "model.abort_in_teardown=true",
        cwd=project,
    )
    if fail_on_rank is None:
        assert done.returncode == 0, done.stderr
        assert "final loss/online/total = " in done.stdout
    else:
        assert done.returncode == 1
        assert "training failed after update 5 of 8: RuntimeError:" in done.stderr
        # torchrun's summary: each failed rank's own exit code, no signal (rank 0 loses its
        # peer, or torchrun stops it first: 75)
        codes = re.findall(r"^\s*exitcode\s*:\s*(\S+)", done.stderr, re.MULTILINE)
        assert "1" in codes and set(codes) <= {"1", "75"}, done.stderr


@pytest.mark.parametrize("ranks", [1, 2])
def test_an_output_path_that_is_no_folder_is_a_message_on_one_or_two_ranks(
    project: Path, ranks: int
) -> None:
    """Rank 0 makes the run folder; the other ranks learn its error instead of waiting
    (torchrun may end them first, once rank 0 has exited: at least rank 0 says it)."""
    (project / "results").write_text("a file where the runs should go")
    launcher = [TORCHRUN, "--standalone", "--nproc-per-node", str(ranks)] if ranks > 1 else []
    done = run(*launcher, NOETHER_TRAIN, "experiment.yaml", "output_path=results", cwd=project)
    assert done.returncode == 1
    message = "output_path 'results': cannot make the run folder results/failing: Not a directory"
    assert 1 <= done.stderr.count(message) <= ranks
    assert "noether/core/" not in done.stderr
    assert (project / "results").read_text() == "a file where the runs should go"


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failing_item_is_reported_by_its_line_dataset_and_index_and_ends_the_run(
    project: Path, workers: int
) -> None:
    """The user's error (`KeyError: 'pressure'`) names neither the dataset nor the sample:
    a note says both. In a data worker torch carries the traceback over as the error's text;
    the workers end."""
    done = run(
        NOETHER_TRAIN,
        "experiment.yaml",
        "model.fail_at=0",
        f"num_workers={workers}",
        "datasets.train.bad_item=13",
        cwd=project,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    worker = " (in DataLoader worker process " if workers else "\n"
    assert f"KeyError: 'pressure'{worker}" in done.stderr
    assert "Caught KeyError" not in done.stderr  # the error's type is said once
    assert f"at {project / 'failing_runtime.py'}:" in done.stderr
    assert 'in __getitem__: return {"x": sample["x"], "y": sample["pressure"]}' in done.stderr
    assert "\n  while reading dataset 'train' at index 13\n" in done.stderr, done.stderr
    (run_dir,) = run_dirs(project)
    assert "while reading dataset 'train' at index 13" in (run_dir / "train.log").read_text()


@pytest.mark.parametrize("workers", [0, 2])
def test_a_missing_data_file_is_a_failure_of_the_users_line_not_a_config_error(
    project: Path, workers: int
) -> None:
    """A FileNotFoundError that the user's dataset raised is said as a failure (type, line,
    dataset and index), like any error of their code, not as a bare message of bad input."""
    flags = ["model.fail_at=0", f"num_workers={workers}", "datasets.train.fileless_item=13"]
    done = run(NOETHER_TRAIN, "experiment.yaml", *flags, cwd=project)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert "training failed after update " in done.stderr, done.stderr
    missing = "No such file or directory: '/nonexistent/sample_13.npz'"
    worker = " (in DataLoader worker process " if workers else "\n"
    assert f": FileNotFoundError: [Errno 2] {missing}{worker}" in done.stderr, done.stderr
    assert "Caught FileNotFoundError" not in done.stderr
    assert f"at {project / 'failing_runtime.py'}:" in done.stderr
    assert "\n  while reading dataset 'train' at index 13\n" in done.stderr, done.stderr


def test_a_missing_file_of_the_users_constructor_names_its_type_and_line(project: Path) -> None:
    done = run(NOETHER_TRAIN, "experiment.yaml", "datasets.train.fileless=true", cwd=project)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert "building the experiment failed: FileNotFoundError: [Errno 2]" in done.stderr
    assert f"at {project / 'failing_runtime.py'}:" in done.stderr, done.stderr


@pytest.mark.parametrize("item", ["killing_item", "exiting_item"])
def test_a_killed_data_worker_is_said_with_what_to_try(project: Path, item: str) -> None:
    """torch says only that a worker exited: the console adds why that happens and how to
    see the dataset's own error. A worker that exits (sys.exit) while it hands over a batch
    left a bare socket error, `[Errno 2] No such file or directory`, said as bad input."""
    flags = ["model.fail_at=0", "num_workers=2", f"datasets.train.{item}=13"]
    done = run(NOETHER_TRAIN, "experiment.yaml", *flags, cwd=project)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert "training failed after update " in done.stderr, done.stderr
    assert "a data worker process ended without an error of its own" in done.stderr
    assert "with num_workers: 0 the dataset runs in this process" in done.stderr


def test_sys_exit_in_a_dataset_names_the_dataset_and_the_index(project: Path) -> None:
    flags = ["model.fail_at=0", "datasets.train.exiting_item=13"]
    done = run(NOETHER_TRAIN, "experiment.yaml", *flags, cwd=project)
    assert done.returncode == 1
    assert "training failed after update " in done.stderr, done.stderr
    assert " of 8: SystemExit: 3\n" in done.stderr, done.stderr
    assert "  while reading dataset 'train' at index 13\n" in done.stderr, done.stderr


def test_a_nan_in_the_evaluation_data_is_warned_about_once_and_the_run_ends(
    project: Path,
) -> None:
    """Training is not affected, so the run ends well; but the evaluation is worthless, and
    said so at the first evaluation rather than only in the final line."""
    flags = [
        "model.fail_at=0",
        "datasets.val={kind: 'failing_configs:SmallDatasetConfig', nan_item: 3}",
        "trainer.callbacks=[{kind: offline_loss, dataset_key: val, every_n_epochs: 1, "
        "batch_size: 8}]",
    ]
    done = run(NOETHER_TRAIN, "experiment.yaml", *flags, cwd=project)
    assert done.returncode == 0, done.stderr
    warning = (
        "loss/val/total is nan at update 4: a batch of dataset 'val' gives a non-finite loss "
        "(its inputs or targets hold NaN or inf, or the model overflows on them)"
    )
    assert done.stderr.count(warning) == 1, done.stderr  # two evaluations, one warning
    assert "final loss/val/total = nan" in done.stdout


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_empty_dataset_that_a_callback_evaluates_is_refused_at_the_callback(
    project: Path, dry_run: bool
) -> None:
    """The dry run passed it; the run refused it only once built, as `training failed after
    update 0` with no file or line."""
    flags = [
        "model.fail_at=0",
        "datasets.val={kind: 'failing_configs:SmallDatasetConfig', size: 0}",
        "trainer.callbacks=[{kind: offline_loss, dataset_key: val, every_n_epochs: 1}]",
    ]
    dry = ["--dry-run"] if dry_run else []
    done = run(NOETHER_TRAIN, *dry, "experiment.yaml", *flags, cwd=project)
    assert done.returncode == 1, done.stderr
    assert re.search(
        r"trainer\.callbacks\.0: dataset 'val' has no samples to evaluate", done.stderr
    ), done.stderr
    assert "Traceback" not in done.stderr and "training failed" not in done.stderr


@pytest.mark.parametrize(
    ("workers", "keyless", "message"),
    [
        (0, 13, r"the item at index 13 has no key 'y' \(the one at index \d+ has x, y\)"),
        # 6 comes first in its batch: torch stacked a batch without 'y', and the run failed
        # with "target_properties ['y'] not in the batch", blaming the config
        (2, 6, r"the item at index \d+ has a key 'y' \(the one at index 6 has only x\)"),
    ],
)
def test_an_item_without_a_key_is_named_by_dataset_index_and_key(
    project: Path, workers: int, keyless: int, message: str
) -> None:
    """torch's own error would be `KeyError: 'y'`, naming neither the dataset nor the item."""
    flags = ["model.fail_at=0", f"num_workers={workers}", f"datasets.train.keyless_item={keyless}"]
    done = run(NOETHER_TRAIN, "experiment.yaml", *flags, cwd=project)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert ": UnstackableItemsError: dataset 'train': " in done.stderr  # type as in process
    assert re.search(f"dataset 'train': {message}", done.stderr), done.stderr


def test_a_failing_user_callback_prints_no_traceback(project: Path) -> None:
    callback = "{kind: 'failing_configs:RaisingCallbackConfig', every_n_updates: 2}"
    done = run(
        NOETHER_TRAIN,
        "experiment.yaml",
        "model.fail_at=0",
        f"trainer.callbacks=[{callback}]",
        cwd=project,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "training failed after update 2 of 8: RuntimeError: the probe file is missing" in (
        done.stderr
    )
    assert "in periodic_callback: raise RuntimeError" in done.stderr
    (run_dir,) = run_dirs(project)
    assert "Traceback (most recent call last)" in (run_dir / "train.log").read_text()


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_value_error_of_the_users_constructor_names_its_type_and_line(
    project: Path, dry_run: bool
) -> None:
    """Unlike noether's own ValueErrors about the input (a dataset smaller than a batch)."""
    flags = ["--dry-run"] if dry_run else []
    done = run(NOETHER_TRAIN, *flags, "experiment.yaml", "datasets.train.invalid=true", cwd=project)
    assert done.returncode == 1
    assert "building the experiment failed: ValueError: the mesh has no boundary" in done.stderr
    assert "in __init__: raise ValueError" in done.stderr


@pytest.mark.parametrize("in_init", [True, False])
def test_a_users_tracker_that_raises_when_built_or_closed_prints_no_traceback(
    project: Path, in_init: bool
) -> None:
    tracker = f"tracker={{kind: 'failing_configs:RaisingTrackerConfig', in_init: {in_init}}}"
    done = run(NOETHER_TRAIN, "experiment.yaml", "model.fail_at=0", tracker, cwd=project)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    if in_init:
        assert "building the experiment failed: ConnectionError: no tracking server" in done.stderr
        assert run_dirs(project) == []
    else:
        assert "closing the tracker failed: ConnectionError: the tracking server went away" in (
            done.stderr
        )
        assert "in _close: raise ConnectionError" in done.stderr


def test_a_callback_that_fails_on_one_rank_ends_the_run_instead_of_hanging(project: Path) -> None:
    """The failed rank writes no error checkpoint: it would wait for ranks that train on."""
    callback = "{kind: 'failing_configs:RaisingCallbackConfig', every_n_updates: 2, on_rank: 1}"
    done = run(
        *ON_TWO_RANKS,
        "experiment.yaml",
        "model.fail_at=0",
        f"trainer.callbacks=[{callback}]",
        cwd=project,
        timeout=90,
    )
    assert done.returncode == 1
    assert "[rank 1]" in done.stderr and "RuntimeError: the probe file is missing" in done.stderr
    (run_dir,) = run_dirs(project)
    assert "the probe file is missing" in (run_dir / "train.rank1.log").read_text()


def test_an_error_checkpoint_that_cannot_be_written_is_a_note_without_a_traceback(
    project: Path,
) -> None:
    callback = (
        "{kind: 'failing_configs:RaisingCallbackConfig', every_n_updates: 2, broken_state: true}"
    )
    done = run(
        NOETHER_TRAIN,
        "experiment.yaml",
        "model.fail_at=0",
        f"trainer.callbacks=[{callback}]",
        cwd=project,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "could not write the error checkpoint error_E0_U2_S16: TypeError: cannot pickle" in (
        done.stderr
    )
    assert "RuntimeError: the probe file is missing" in done.stderr
    (run_dir,) = run_dirs(project)
    assert "in state_dict" in (run_dir / "train.log").read_text()


BROKEN_SCHEMAS = '''
from typing import ClassVar

from noether.config import CallbackConfig, ModelConfig, TrackerConfig


class SyntaxCallbackConfig(CallbackConfig):
    """Its runtime module does not compile."""

    target: ClassVar[str] = "broken_syntax:Callback"


class RaisingTrackerConfig(TrackerConfig):
    """Its runtime module raises while it is imported."""

    target: ClassVar[str] = "broken_raises:Tracker"


class TargetlessModelConfig(ModelConfig):
    """Names no runtime class."""


class PlainCallbackConfig(CallbackConfig):
    """Its runtime class is no CallbackBase."""

    target: ClassVar[str] = "broken_plain:Callback"


class UnfitCallbackConfig(CallbackConfig):
    """Its runtime class's constructor takes no context (found once the model was built)."""

    target: ClassVar[str] = "broken_unfit:Callback"
'''


@pytest.mark.parametrize("dry_run", [True, False])
def test_runtime_classes_that_fail_to_import_or_to_fit_their_kind_are_named_before_building(
    project: Path, dry_run: bool
) -> None:
    (project / "broken_schemas.py").write_text(BROKEN_SCHEMAS)
    (project / "broken_syntax.py").write_text("def callback(:\n    pass\n")
    (project / "broken_raises.py").write_text("raise ZeroDivisionError('no tracker today')\n")
    (project / "broken_plain.py").write_text(
        "class Callback:\n    def __init__(self, *a, **k): ...\n"
    )
    (project / "broken_unfit.py").write_text(
        "from noether.core.callbacks.base import CallbackBase\n"
        "class Callback(CallbackBase):\n    def __init__(self, callback_config): ...\n"
    )
    done = run(
        *(NOETHER_TRAIN, *(["--dry-run"] if dry_run else []), "experiment.yaml"),
        "model={kind: 'broken_schemas:TargetlessModelConfig', optimizer: {kind: sgd, lr: 0.1}}",
        "trainer.callbacks=[{kind: 'broken_schemas:SyntaxCallbackConfig', every_n_epochs: 1},"
        " {kind: 'broken_schemas:PlainCallbackConfig', every_n_epochs: 1},"
        " {kind: 'broken_schemas:UnfitCallbackConfig', every_n_epochs: 1}]",
        "tracker={kind: 'broken_schemas:RaisingTrackerConfig'}",
        cwd=project,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert "noether-train: cannot build this experiment, nothing was built:" in lines, lines
    (model,) = [line for line in lines if "): model (kind " in line]
    assert "broken_schemas:TargetlessModelConfig names no runtime class to build" in model
    (callback,) = [line for line in lines if "trainer.callbacks.0 (kind " in line]
    assert "importing 'broken_syntax:Callback' failed: SyntaxError: " in callback
    assert f"at {project / 'broken_syntax.py'}:1" in callback
    (plain,) = [line for line in lines if "trainer.callbacks.1 (kind " in line]
    assert "'broken_plain:Callback' is not a noether.core.callbacks.base.CallbackBase subclass" in (
        plain
    )
    (unfit,) = [line for line in lines if "trainer.callbacks.2 (kind " in line]
    assert "got an unexpected keyword argument 'context'. noether builds it as " in unfit
    assert "Callback(config, context=...); its signature is Callback(callback_config)" in unfit
    (tracker,) = [line for line in lines if "): tracker (kind " in line]
    assert "importing 'broken_raises:Tracker' failed: ZeroDivisionError: no tracker today" in (
        tracker
    )
    assert run_dirs(project) == []


CHECKPOINTS = "{kind: checkpoint, every_n_epochs: 1, save_optim: true}"


def fail_in_callback_at(project: Path, update: int) -> Path:
    """A run whose user callback fails at `update` (4 updates per epoch); its run folder."""
    callback = f"{{kind: 'failing_configs:RaisingCallbackConfig', every_n_updates: {update}}}"
    done = run(
        NOETHER_TRAIN,
        "experiment.yaml",
        "model.fail_at=0",
        f"trainer.callbacks=[{callback}, {CHECKPOINTS}]",
        cwd=project,
    )
    assert done.returncode == 1, done.stderr
    (run_dir,) = run_dirs(project)
    return run_dir


def test_a_run_that_failed_before_its_first_checkpoint_resumes_from_its_error_checkpoint_by_name(
    project: Path,
) -> None:
    run_dir = fail_in_callback_at(project, 3)
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["error_E0_U3_S24"]
    fixed = f"trainer.callbacks=[{CHECKPOINTS}]"

    refused = run(NOETHER_TRAIN, "--resume", run_dir, fixed, cwd=project)
    assert refused.returncode == 1, refused.stderr
    assert "hold weights only" not in refused.stderr, refused.stderr
    assert "(error_E0_U3_S24) were written when a callback failed" in refused.stderr
    named = f"--resume {run_dir} --checkpoint error_E0_U3_S24"
    assert f"continue from where it failed with {named}, or start a new run" in refused.stderr

    resumed = run(NOETHER_TRAIN, *named.split(), fixed, cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "from checkpoint error_E0_U3_S24" in resumed.stderr
    assert (run_dir / "checkpoints" / "E2_U8_S64" / "checkpoint.json").is_file()


def test_a_resume_from_before_an_error_checkpoint_keeps_it(project: Path) -> None:
    run_dir = fail_in_callback_at(project, 6)
    resumed = run(
        NOETHER_TRAIN, "--resume", run_dir, f"trainer.callbacks=[{CHECKPOINTS}]", cwd=project
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "from checkpoint E1_U4_S32" in resumed.stderr
    assert "deleting checkpoint error_" not in resumed.stderr, resumed.stderr
    kept = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert kept == ["E1_U4_S32", "E2_U8_S64", "error_E1_U6_S48"]
