"""noether-train as a user runs it: --version, shell completion, overrides read as
noether-config reads them, --print-config, --dry-run and the early check of every kind's
package.

Real processes on the tiny project of tests/train_cli_project (64 samples, a linear model of
4 features: 5 parameters).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).parent / "train_cli_project"
BIN = Path(sys.executable).parent
NOETHER_TRAIN = BIN / "noether-train"
NOETHER_CONFIG = BIN / "noether-config"
EXPERIMENT = "tiny_regression"
ONE_EPOCH = ("trainer.max_epochs=1", "trainer.callbacks=[]")


def run(
    program: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # so that a written cache would show
    return subprocess.run(
        [str(program), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def tree(folder: Path) -> list[str]:
    """Every path under `folder`, with the size of each file."""
    return sorted(
        f"{path.relative_to(folder)} {path.stat().st_size if path.is_file() else 'dir'}"
        for path in folder.rglob("*")
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (its config, schema and runtime modules) to run in."""
    folder = tmp_path / "project"
    shutil.copytree(PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_version_names_noether_and_torch() -> None:
    done = run(NOETHER_TRAIN, "--version")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"noether-core {importlib.metadata.version('noether-core')}"
    assert f"noether-config {importlib.metadata.version('noether-config')}" in lines
    assert f"torch {importlib.metadata.version('torch')}" in lines


def test_show_completion_prints_a_bash_script() -> None:
    """Run from bash, as a user does: the option takes no value; typer detects the shell
    among the process's parents (bash stays one: a second command keeps it from exec'ing)."""
    done = run(Path("/bin/bash"), "-c", f"'{NOETHER_TRAIN}' --show-completion; exit $?")
    assert done.returncode == 0, done.stderr
    assert "_NOETHER_TRAIN_COMPLETE=complete_bash" in done.stdout
    assert "complete -o default -F _noether_train_completion noether-train" in done.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("noether-train --dr", "--dry-run"),
        ("noether-train --print", "--print-config"),
        ("noether-train config.yaml --res", "--resume"),
        ("noether-train -", "--override"),
    ],
)
def test_completion_offers_the_options(words: str, expected: str) -> None:
    done = run(
        NOETHER_TRAIN,
        _NOETHER_TRAIN_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(words.count(" ")),
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout.split()


def test_noether_train_command_line_imports_no_torch() -> None:
    """--help, --version and completion answer without importing torch (quick)."""
    code = "import sys, noether.core.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_positional_and_option_overrides_are_the_same_in_both_clis(project: Path) -> None:
    config = str(project / "experiment.yaml")
    positional = run(NOETHER_TRAIN, "--print-config", config, "trainer.max_epochs=7", "seed=3")
    option = run(
        NOETHER_TRAIN, "--print-config", config, "-o", "trainer.max_epochs=7", "--override=seed=3"
    )
    assert positional.returncode == option.returncode == 0, positional.stderr + option.stderr
    assert positional.stdout == option.stdout
    printed = yaml.safe_load(positional.stdout)
    assert (printed["trainer"]["max_epochs"], printed["seed"]) == (7, 3)
    # -o comes after the positional ones: the later value wins
    later = run(NOETHER_TRAIN, "--print-config", config, "seed=1", "-o", "seed=2")
    assert yaml.safe_load(later.stdout)["seed"] == 2
    # noether-config: the same words, the same report
    bad = "trainer.max_epochs=-1"
    validate_positional = run(NOETHER_CONFIG, "validate", config, bad)
    validate_option = run(NOETHER_CONFIG, "validate", config, "-o", bad)
    assert validate_positional.returncode == validate_option.returncode == 1
    assert validate_positional.stdout == validate_option.stdout
    assert "trainer.max_epochs" in validate_positional.stdout


def test_print_config_prints_the_run_folders_config_yaml_and_writes_nothing(
    project: Path, tmp_path: Path
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    config = str(project / "experiment.yaml")
    before = tree(tmp_path)
    printed = run(NOETHER_TRAIN, "--print-config", config, *ONE_EPOCH, cwd=cwd)
    assert printed.returncode == 0, printed.stderr
    assert tree(tmp_path) == before
    resolved = yaml.safe_load(printed.stdout)
    assert resolved["trainer"]["precision"] == "float32"  # a default, filled in
    assert resolved["tracker"] == {"kind": "jsonl", "filename": "metrics.jsonl"}
    trained = run(NOETHER_TRAIN, config, *ONE_EPOCH, cwd=cwd)
    assert trained.returncode == 0, trained.stderr
    (run_dir,) = (cwd / "runs" / EXPERIMENT).iterdir()
    assert (run_dir / "config.yaml").read_text() == printed.stdout


def test_print_config_writes_only_the_yaml_to_stdout_when_a_schema_module_prints(
    project: Path,
) -> None:
    """`noether-train --print-config exp.yaml > resolved.yaml` stays a YAML file when the
    user's schema module prints on import: that goes to stderr."""
    schemas = project / "train_cli_configs.py"
    schemas.write_text(schemas.read_text() + 'print("loading my schemas")\n')
    printed = run(NOETHER_TRAIN, "--print-config", str(project / "experiment.yaml"), cwd=project)
    assert printed.returncode == 0, printed.stderr
    assert "loading my schemas" not in printed.stdout
    assert "loading my schemas" in printed.stderr
    assert yaml.safe_load(printed.stdout)["name"] == EXPERIMENT


def dry_run_lines(stdout: str) -> dict[str, str]:
    lines = [line.strip() for line in stdout.splitlines() if line.startswith("  ")]
    return dict(line.split(": ", 1) for line in lines)


def test_dry_run_prints_the_plan_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    before = tree(tmp_path)
    # 64 samples, batches of 14 (4 updates per epoch), at most 4 per micro-batch: 4+4+3+3
    done = run(
        NOETHER_TRAIN,
        "--dry-run",
        str(project / "experiment.yaml"),
        "trainer.effective_batch_size=14",
        "-o",
        "trainer.max_batch_size=4",
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    assert tree(tmp_path) == before  # no run folder, no file, no bytecode cache
    report = dry_run_lines(done.stdout)
    assert report["dataset train"] == "64 samples"
    assert report["model"] == "LinearModel"
    assert report["parameters"] == "5 trainable, 0 frozen"
    assert report["processes"] == "1"
    assert report["per-rank batch"] == "14"
    assert report["per-rank micro-batches"] == "4+4+3+3"
    assert report["accumulation steps"] == "4"
    assert report["compile"] == "off"
    assert report["updates per epoch"] == "4"
    assert report["total updates"] == "12 (3 epochs)"
    assert report["run folder"] == f"runs/{EXPERIMENT}/<a new run id>"
    assert report["precision"] == "float32"
    frozen = run(
        NOETHER_TRAIN,
        "--dry-run",
        str(project / "experiment.yaml"),
        "model.is_frozen=true",
        "trainer.precision=fp16",  # on cpu: bfloat16, saying why
        "trainer.max_epochs=null",
        "trainer.max_updates=9",
        "trainer.use_torch_compile=true",
        "trainer.compile_options={mode: max-autotune-no-cudagraphs, dynamic: false}",
    )
    frozen_report = dry_run_lines(frozen.stdout)
    assert frozen_report["parameters"] == "0 trainable, 5 frozen"
    assert frozen_report["total updates"] == "9 (2 epochs and 1 update)"  # not "3 epochs"
    assert frozen_report["precision"].startswith("bfloat16 (asked for fp16: bfloat16 keeps")
    assert frozen_report["compile"] == (
        "torch.compile(mode='max-autotune-no-cudagraphs', dynamic=False, fullgraph=False)"
    )


def test_dry_run_notes_what_the_data_size_tells_at_its_file_and_line(project: Path) -> None:
    # 3 epochs of 4 updates: the length is known from the data only, so `validate` cannot
    # tell that the warm-up outlasts the run; the dry run, which reads the data, says it
    config = str(project / "experiment.yaml")
    longer = "model.optimizer.schedule.warmup_updates=20"
    done = run(NOETHER_TRAIN, "--dry-run", config, longer)
    assert done.returncode == 0, done.stderr
    notes = [line.strip() for line in done.stdout.splitlines() if "note:" in line]
    assert notes == [
        f"note: {config}:13: model.optimizer.schedule.warmup_updates: 20 updates of warm-up "
        "are more than the run has (12 updates, from trainer.max_epochs: 3 at 4 updates per "
        "epoch): the learning rate would stop at 0.6 of its peak and never decay; shorten "
        f"the warm-up or use warmup_percent (set by override {longer!r})"
    ]
    within = run(NOETHER_TRAIN, "--dry-run", config)
    assert within.returncode == 0 and "note:" not in within.stdout + within.stderr


def test_dry_run_of_a_resume_names_the_checkpoint_and_changes_nothing(
    project: Path, tmp_path: Path
) -> None:
    config = str(project / "experiment.yaml")
    every_epoch = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"
    trained = run(NOETHER_TRAIN, config, every_epoch, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    (run_dir,) = (tmp_path / "runs" / EXPERIMENT).iterdir()
    before = tree(tmp_path)
    done = run(NOETHER_TRAIN, "--dry-run", "--resume", str(run_dir), "--checkpoint", "E1_U4_S64")
    assert done.returncode == 0, done.stderr
    assert tree(tmp_path) == before  # the later checkpoints are still there
    report = dry_run_lines(done.stdout)
    assert report["resume"] == (
        f"{run_dir} from checkpoint E1_U4_S64 (epoch 1, update 4, sample 64); 8 updates left"
    )
    assert "would delete checkpoint E2_U8_S128" in done.stdout
    assert report["run folder"] == f"{run_dir} (continued in place)"
    taken = run(NOETHER_TRAIN, "--dry-run", config, "--run-id", run_dir.name, cwd=tmp_path)
    assert taken.returncode == 1
    assert "exists; runs are never overwritten" in taken.stderr


PROBE = """\
from typing import ClassVar

from noether.config import DatasetConfig


class ProbeDatasetConfig(DatasetConfig):
    kind: str = "probe_dataset"
    target: ClassVar[str] = "probe:ProbeDataset"


class ProbeDataset:
    def __init__(self, config, **kwargs):
        open("dataset-was-built", "w").close()
"""


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_missing_package_is_reported_before_anything_is_built(
    project: Path, tmp_path: Path, dry_run: bool
) -> None:
    (project / "probe.py").write_text(PROBE)  # a dataset that leaves a file when built
    cwd = tmp_path / "work"
    cwd.mkdir()
    done = run(
        NOETHER_TRAIN,
        *(["--dry-run"] if dry_run else []),
        str(project / "experiment.yaml"),
        "datasets.train={kind: 'probe:ProbeDatasetConfig'}",
        "model.kind=train_cli_configs:MissingPackageModelConfig",
        cwd=cwd,
    )
    assert done.returncode == 1
    assert "model (kind 'train_cli_configs:MissingPackageModelConfig')" in done.stderr
    assert "install the package 'acme-surrogates'" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(cwd.iterdir()) == []  # no dataset built, no run folder


def test_a_tracker_whose_library_is_missing_leaves_no_run_folder(
    project: Path, tmp_path: Path
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    code = (
        "import sys\n"
        "sys.modules['wandb'] = None  # as if wandb were not installed\n"
        "from noether.core.cli import main\n"
        f"main([{str(project / 'experiment.yaml')!r}, 'tracker={{kind: wandb}}'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    assert "pip install 'noether-core[wandb]'" in done.stderr
    assert list(cwd.iterdir()) == []


def test_root_lets_a_config_outside_a_git_checkout_extend_a_file_of_another_folder(
    project: Path, tmp_path: Path
) -> None:
    """A job folder copied without `.git` (a container image): the base config lies beside
    the experiment's folder, and `--root` widens where `extends:` may read, as for
    `noether-config validate`."""
    base = tmp_path / "base"
    base.mkdir()
    (project / "experiment.yaml").rename(base / "_base.yaml")
    experiment = project / "experiment.yaml"
    experiment.write_text("extends: ../base/_base.yaml\nseed: 5\n")
    refused = run(NOETHER_TRAIN, "--print-config", str(experiment), cwd=tmp_path)
    assert refused.returncode == 1
    assert "outside the config root" in refused.stderr
    assert "widen it with --root" in refused.stderr
    printed = run(NOETHER_TRAIN, "--print-config", "--root", ".", str(experiment), cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert yaml.safe_load(printed.stdout)["seed"] == 5
    trained = run(NOETHER_TRAIN, "--root", str(tmp_path), str(experiment), *ONE_EPOCH, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    (run_dir,) = (tmp_path / "runs" / EXPERIMENT).iterdir()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["seed"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "a config file is required"),
        (("a.yaml", "b.yaml"), "unexpected argument 'b.yaml'"),
        (("a.yaml", "--checkpoint", "E1"), "--checkpoint and --force go with --resume"),
        (("--resume", "runs/x", "--run-id", "y"), "--run-id names a new run"),
        (("--print-config", "--dry-run", "a.yaml"), "exclude each other"),
        (("--root", "no/such/folder", "a.yaml"), "--root 'no/such/folder' is not a folder"),
        (("--root", "", "a.yaml"), "--root '' is not a folder"),  # an unset $ROOT: not '.'
        (("--bogus", "a.yaml"), "No such option: --bogus"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    done = run(NOETHER_TRAIN, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "run_id",
    ["../../elsewhere", "a/b", "..", ".hidden", "/tmp/abs", "", "r\u00e9sum\u00e9", "x" * 256],
)
def test_a_run_id_that_is_no_folder_name_is_a_usage_error(
    project: Path, tmp_path: Path, run_id: str
) -> None:
    """--run-id names the folder <output_path>/<name>/ID: a path would put the run elsewhere."""
    cwd = tmp_path / "work" / "here"
    cwd.mkdir(parents=True)
    done = run(
        NOETHER_TRAIN, str(project / "experiment.yaml"), *ONE_EPOCH, "--run-id", run_id, cwd=cwd
    )
    assert done.returncode == 2, done.stderr
    assert "--run-id" in done.stderr and "not a folder name" in done.stderr
    too_long = "file systems take at most 255" in done.stderr
    assert too_long or "use ASCII letters" in done.stderr  # an accented letter, but refused
    assert "Traceback" not in done.stderr
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["here"]


def test_dry_run_tells_a_note_of_the_config_once(project: Path) -> None:
    # known from the config alone (epochs): told before the report, not again inside it with
    # the data's updates per epoch added
    config = str(project / "experiment.yaml")
    late = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 5}]"
    done = run(NOETHER_TRAIN, "--dry-run", config, late)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert output.count("trainer.callbacks.0.every_n_epochs: 5 is after the last epoch") == 1


def test_a_reader_before_the_defaults_first_row_is_refused_before_the_model_is_built(
    project: Path,
) -> None:
    # 3 epochs of 4 updates: tracked every update (1/500 of 12, at least 1), which the data's
    # size tells, so `validate` passes; at update 1 the defaults have not logged yet
    config = str(project / "experiment.yaml")
    reader = "[{kind: metric_early_stopper, every_n_updates: %d, metric_key: loss/online/total}]"
    assert (
        run(NOETHER_CONFIG, "validate", config, f"trainer.callbacks={reader % 1}").returncode == 0
    )
    for command in (("--dry-run",), ()):
        done = run(NOETHER_TRAIN, *command, config, f"trainer.callbacks={reader % 1}", cwd=project)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert (
            f"{config}:21 (set by override 'trainer.callbacks=" in done.stderr
            and "): trainer.callbacks.0.every_n_updates: metric_early_stopper first reads "
            "'loss/online/total' at update 1, but the default callbacks log it first at update 1 "
            "(track_every_n_updates unset: 1/500 of the run's 12 updates)"
            in done.stderr
        ), done.stderr
    later = run(NOETHER_TRAIN, "--dry-run", config, f"trainer.callbacks={reader % 2}")
    assert later.returncode == 0, later.stderr
