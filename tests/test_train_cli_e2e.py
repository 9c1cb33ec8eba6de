"""`noether-train` as a real subprocess on a tiny project next to its config.

The project (tests/train_cli_project) holds a torch-free schema module and a runtime module;
the loader puts the config's folder on sys.path, so dotted-path kinds resolve.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

PROJECT = Path(__file__).parent / "train_cli_project"
CONFIG = PROJECT / "experiment.yaml"
NOETHER_TRAIN = Path(sys.executable).parent / "noether-train"
EXPERIMENT = "tiny_regression"
# 64 samples, effective batch 16: 4 updates per epoch
EPOCHS = 5
UPDATES_PER_EPOCH = 4


def noether_train(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(NOETHER_TRAIN), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_dirs(cwd: Path) -> list[Path]:
    root = cwd / "runs" / EXPERIMENT
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# Checkpoints with optimizer and trainer state after every epoch, so a later run can resume
# from the middle of this one.
SAVE_EVERY_EPOCH = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("train_cli")
    result = noether_train(cwd, str(CONFIG), f"trainer.max_epochs={EPOCHS}", SAVE_EVERY_EPOCH)
    assert result.returncode == 0, result.stderr
    return cwd, result


def test_run_folder_holds_config_log_metrics_and_checkpoints(first_run) -> None:
    cwd, result = first_run
    (run_dir,) = run_dirs(cwd)
    assert "Traceback" not in result.stderr
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["name"] == EXPERIMENT
    assert resolved["trainer"]["max_epochs"] == EPOCHS
    assert resolved["model"]["optimizer"]["schedule"]["kind"] == "linear_warmup_cosine_decay"
    log = (run_dir / "train.log").read_text()
    assert "finished run" in log
    rows = metrics(run_dir)
    assert rows[-1]["update"] == EPOCHS * UPDATES_PER_EPOCH
    losses = [row["loss/online/total"] for row in rows if "loss/online/total" in row]
    assert losses[-1] < losses[0] / 10  # it learned
    tags = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    expected = [f"E{e}_U{e * 4}_S{e * 64}" for e in range(1, EPOCHS + 1)]
    assert tags == sorted(expected)
    for tag in expected:
        names = sorted(p.name for p in (run_dir / "checkpoints" / tag).iterdir())
        assert names == ["checkpoint.json", "model.pt", "optim.pt", "trainer.pt"]


def test_final_losses_are_printed(first_run) -> None:
    cwd, result = first_run
    (run_dir,) = run_dirs(cwd)
    printed = dict(
        line.removeprefix("final ").split(" = ")
        for line in result.stdout.splitlines()
        if line.startswith("final ")
    )
    assert set(printed) == {"loss/online/total", "loss/online/mse"}
    last = [row for row in metrics(run_dir) if "loss/online/total" in row][-1]
    assert float(printed["loss/online/total"]) == pytest.approx(last["loss/online/total"], rel=1e-5)


def test_summary_json_holds_the_final_metrics_and_the_summary_values(first_run) -> None:
    cwd, _ = first_run
    (run_dir,) = run_dirs(cwd)
    final: dict[str, float] = {}
    for row in metrics(run_dir):
        final.update({k: v for k, v in row.items() if k not in ("update", "epoch", "sample")})
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {k: summary[k] for k in final} == final  # the last value of every logged metric
    assert "loss/online/total" in final and "optim/lr" in final
    assert summary["dataset/train/size"] == 64  # added by the default callbacks
    assert summary["model/params/trainable"] == 5


def test_resume_continues_from_the_saved_counters_into_a_new_folder(first_run) -> None:
    cwd, _ = first_run
    (original,) = run_dirs(cwd)
    before = sorted(str(p.relative_to(original)) for p in original.rglob("*"))
    resume = f"trainer.initializer={{kind: resume, run: {original}, checkpoint: E3_U12_S192}}"
    result = noether_train(
        cwd, str(CONFIG), f"trainer.max_epochs={EPOCHS}", SAVE_EVERY_EPOCH, resume
    )
    assert result.returncode == 0, result.stderr
    resumed = next(p for p in run_dirs(cwd) if p != original)
    # the first run is untouched
    assert sorted(str(p.relative_to(original)) for p in original.rglob("*")) == before
    updates = [row["update"] for row in metrics(resumed)]
    assert min(updates) == 3 * UPDATES_PER_EPOCH + 1
    assert max(updates) == EPOCHS * UPDATES_PER_EPOCH
    tags = sorted(p.name for p in (resumed / "checkpoints").iterdir())
    assert tags == ["E4_U16_S256", "E5_U20_S320"]
    # exact resume: the same weights as the uninterrupted run
    final = "checkpoints/E5_U20_S320/model.pt"
    straight = torch.load(original / final, weights_only=True)
    continued = torch.load(resumed / final, weights_only=True)
    for key in straight:
        torch.testing.assert_close(continued[key], straight[key], rtol=0, atol=0, msg=key)


def test_a_second_run_gets_a_new_folder(tmp_path: Path) -> None:
    args = (str(CONFIG), "trainer.max_updates=1", "trainer.max_epochs=null", "trainer.callbacks=[]")
    assert noether_train(tmp_path, *args).returncode == 0
    (first,) = run_dirs(tmp_path)
    marker = (first / "config.yaml").read_text()
    second_run = noether_train(tmp_path, *args, "tracker={kind: tensorboard}")
    assert second_run.returncode == 0, second_run.stderr
    (second,) = [p for p in run_dirs(tmp_path) if p != first]
    assert (first / "config.yaml").read_text() == marker
    assert list((second / "tensorboard").glob("events.out.tfevents.*"))
    assert not (second / "metrics.jsonl").exists()


def test_bad_config_exits_1_with_file_line_key_messages(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    config = project / "experiment.yaml"
    text = config.read_text().replace("max_epochs: 3", "max_epochs: three\n  unknown_key: 1")
    config.write_text(text)
    lines = text.splitlines()
    result = noether_train(tmp_path, str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    line_of = {key: lines.index(f"  {key}") + 1 for key in ("max_epochs: three", "unknown_key: 1")}
    assert f"{config}:{line_of['max_epochs: three']}: trainer.max_epochs:" in result.stderr
    assert f"{config}:{line_of['unknown_key: 1']}: trainer.unknown_key:" in result.stderr
    assert run_dirs(tmp_path) == []


def test_a_kind_whose_package_is_missing_names_the_package(tmp_path: Path) -> None:
    kind = "model.kind=train_cli_configs:MissingPackageModelConfig"
    result = noether_train(tmp_path, str(CONFIG), kind)
    assert result.returncode == 1
    assert "install the package 'acme-surrogates'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert run_dirs(tmp_path) == []  # reported before the run folder is made


def test_a_config_file_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    result = noether_train(tmp_path, str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "config file not found" in result.stderr


def read_terminal(process: subprocess.Popen[bytes], leader: int, timeout: float) -> str:
    """Everything the process wrote to its terminal until it exited."""
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process (EIO on Linux)
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    return output.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_on_a_terminal_progress_is_a_live_bar_and_log_lines_stay_whole(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(NOETHER_TRAIN), str(CONFIG), "trainer.max_epochs=2", "trainer.callbacks=[]"],
        cwd=tmp_path,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(follower)
    try:
        text = read_terminal(process, leader, timeout=300)
    finally:
        os.close(leader)
    assert process.returncode == 0, text
    bars = [line for line in text.split("\r\x1b[2K") if "━" in line]
    assert bars, text  # rich drew its bar, redrawn in place
    assert "8/8" in bars[-1] and "100%" in bars[-1]
    assert "final loss/online/total = " in text
    assert "\x1b[?25h" in text  # the cursor is shown again
    # each progress line is logged whole on its own line, and into train.log
    logged = [
        line.rsplit("\x1b[2K", 1)[-1]
        for line in text.split("\r\n")
        if "TerminalProgressCallback: epoch" in line
    ]
    assert [line.split(" | ")[1] for line in logged] == [
        f"update {update}/8 ({100 * update / 8:.1f}%)" for update in (2, 4, 6, 8)
    ]
    (run_dir,) = run_dirs(tmp_path)
    assert "update 8/8 (100.0%)" in (run_dir / "train.log").read_text()
