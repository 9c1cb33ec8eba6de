"""Resume with random-drawing data on two ranks (torchrun) and with two data workers; SIGTERM to
one rank under torchrun; two tasks under a SLURM environment form one job like torchrun's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import (
    CONFIG,
    NOETHER_TRAIN,
    TORCHRUN,
    assert_same_tensors,
    complete_checkpoints,
    environment,
    free_port,
    noether_train,
    run_dirs,
)

from noether.core.checkpoint import CheckpointWriter

EPOCH_CHECKPOINTS = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"
FINAL_TAG = "E4_U48_S384"
MIDDLE_TAG = "E2_U24_S192"


def _torchrun(
    cwd: Path, *args: str | Path, timeout: float = 300, ranks: int = 2
) -> subprocess.CompletedProcess[str]:
    command = [str(TORCHRUN), "--standalone", "--nproc-per-node", str(ranks), str(NOETHER_TRAIN)]
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*command, *map(str, args)],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_batch_the_ranks_cannot_share_is_refused_before_the_run_folder_is_made(
    tmp_path: Path,
) -> None:
    result = _torchrun(tmp_path, CONFIG, timeout=120, ranks=3)  # 8 samples per update
    assert result.returncode != 0
    assert (
        "experiment.yaml:19: trainer.effective_batch_size: effective_batch_size (8) must be a "
        "multiple of the number of processes (3)"
    ) in result.stderr
    assert "noether/core/" not in result.stderr  # no frames of ours (torchrun prints its own)
    assert run_dirs(tmp_path) == []


def _resume_copy_from_the_middle(run_dir: Path, tmp_path: Path, launch: str) -> Path:
    """Copies a finished run, resumes the copy from the middle, returns the copy."""
    copy = tmp_path / "copy" / "runs" / "resume" / run_dir.name
    shutil.copytree(run_dir, copy)
    args = ("--resume", copy, "--checkpoint", MIDDLE_TAG)
    if launch == "torchrun":
        result = _torchrun(tmp_path / "copy", *args)
    else:
        result = noether_train(tmp_path / "copy", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    # every rank's callbacks match the checkpoint's states (the progress line is rank 0's)
    for warning in ("holds state of unknown callbacks", "no state for callback"):
        assert warning not in result.stderr, result.stderr
    return copy


def _final_weights(run_dir: Path) -> dict:
    return CheckpointWriter.load(run_dir, FINAL_TAG)["model"]


def test_random_drawing_data_with_two_workers_resumes_bitwise(tmp_path: Path) -> None:
    result = noether_train(tmp_path, CONFIG, "num_workers=2", EPOCH_CHECKPOINTS)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    resumed = _resume_copy_from_the_middle(run_dir, tmp_path, "single")
    assert_same_tensors(_final_weights(resumed), _final_weights(run_dir))


def test_random_drawing_data_on_two_ranks_resumes_bitwise(tmp_path: Path) -> None:
    result = _torchrun(tmp_path, CONFIG, EPOCH_CHECKPOINTS)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(tmp_path)
    # rank 1 logs only warnings (prefixed), so each INFO line is on the console once
    assert result.stderr.count("finished run") == 1
    resumed = _resume_copy_from_the_middle(run_dir, tmp_path, "torchrun")
    assert_same_tensors(_final_weights(resumed), _final_weights(run_dir))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _rank_of(pid: int) -> int | None:
    try:
        variables = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for variable in variables:
        if variable.startswith(b"RANK="):
            return int(variable[5:])
    return None


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds torchrun's workers in /proc")
def test_sigterm_to_one_rank_under_torchrun_stops_both_with_one_checkpoint(tmp_path: Path) -> None:
    command = [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", str(NOETHER_TRAIN)]
    process = subprocess.Popen(
        [*command, str(CONFIG), "trainer.max_epochs=40", "trainer.callbacks=[]"],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    rank1 = None
    while time.monotonic() < deadline and rank1 is None:
        logs = list((tmp_path / "runs").glob("*/*/train.log"))
        if logs and "ProgressCallback" in logs[0].read_text():
            rank1 = next((p for p in _children(process.pid) if _rank_of(p) == 1), None)
        time.sleep(0.05)
    assert rank1 is not None, "rank 1 never started training"
    os.kill(rank1, signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    (run_dir,) = run_dirs(tmp_path)
    signalled = [tag for tag in complete_checkpoints(run_dir) if tag.startswith("sigterm_")]
    assert len(signalled) == 1, output
    assert output.count("exitcode  : 75") + output.count("exitcode: 75") >= 1, output
    assert "finished run" not in output
    # the printed command resumes: launched as this job was, not one process (refused)
    assert (
        f"resume with: noether-train --resume {run_dir.relative_to(tmp_path)}, launched as this "
        "job was (torchrun, 2 processes)"
    ) in output, output
    state = CheckpointWriter.load(run_dir, signalled[0])["trainer"]
    assert len(state["rng"]) == 2  # one RNG state per rank
    assert 0 < state["update_counter"]["update"] < 40 * 12


def test_two_tasks_under_slurm_form_one_job_equal_to_torchruns(tmp_path: Path) -> None:
    reference = _torchrun(tmp_path / "torchrun", CONFIG, EPOCH_CHECKPOINTS)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    port = free_port()
    while not 15000 <= port < 35000:  # SLURM's port is 15000 + job id % 20000
        port = free_port()
    cwd = tmp_path / "slurm"
    cwd.mkdir()
    base = {
        key: value
        for key, value in environment().items()
        if key not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    }
    processes = [
        subprocess.Popen(
            [str(NOETHER_TRAIN), str(CONFIG), EPOCH_CHECKPOINTS],
            cwd=cwd,
            env={
                **base,
                "SLURM_PROCID": str(rank),
                "SLURM_LOCALID": str(rank),
                "SLURM_NTASKS": "1",  # the job's: one task, for the shell of `srun --pty bash`
                "SLURM_STEP_NUM_TASKS": "2",  # this step's: `srun -n 2` typed in that shell
                "SLURM_NODEID": "0",
                "SLURM_JOB_ID": str(port - 15000),
                "SLURM_JOB_NODELIST": "localhost",
                "SLURM_JOB_NAME": "interactive",  # inherited by every step of the job
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert f"launched by slurm: 2 ranks, rendezvous at localhost:{port}" in outputs[0][1]
    (run_dir,) = run_dirs(cwd)  # one job, one run folder
    (torchrun_dir,) = run_dirs(tmp_path / "torchrun")
    assert_same_tensors(_final_weights(run_dir), _final_weights(torchrun_dir))
