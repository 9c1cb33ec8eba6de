"""Who launched the process: torchrun, srun, or nobody."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from noether.core import launch as launch_module
from noether.core.cli_run import resume_command
from noether.core.launch import DEFAULT_PORT, LaunchError, detect, export, first_host


@pytest.mark.parametrize(
    ("nodelist", "host"),
    [
        ("node7", "node7"),
        ("gpu[03-05,9],cpu1", "gpu03"),
        ("rack[2-3]-n[10-11]", "rack2-n10"),
        ("a1,b[1-2]", "a1"),
        ("localhost", "localhost"),
    ],
)
def test_first_host_of_a_slurm_node_list(nodelist: str, host: str) -> None:
    assert first_host(nodelist) == host


def test_torchrun_variables_win_over_slurm() -> None:
    env = {
        "RANK": "1",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "h",
        "MASTER_PORT": "9",
        "SLURM_PROCID": "0",
        "SLURM_NTASKS": "2",
    }
    launch = detect(env)
    assert (launch.launcher, launch.rank, launch.world_size, launch.local_rank) == (
        "torchrun",
        1,
        4,
        1,
    )


def test_srun_tasks_form_a_job_from_slurm_variables() -> None:
    env = {
        "SLURM_PROCID": "3",
        "SLURM_NTASKS": "4",
        "SLURM_LOCALID": "1",
        "SLURM_JOB_NODELIST": "gpu[07-08]",
        "SLURM_JOB_ID": "123456",
    }
    launch = detect(env)
    assert launch.launcher == "slurm"
    assert (launch.rank, launch.world_size, launch.local_rank) == (3, 4, 1)
    assert launch.master_addr == "gpu07"
    assert launch.master_port == 15000 + 123456 % 20000
    assert (
        detect({**env, "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "4000"}).master_addr == "10.0.0.1"
    )
    assert detect({**env, "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2"}).world_size == 2
    assert detect({k: v for k, v in env.items() if k != "SLURM_JOB_ID"}).master_port == DEFAULT_PORT


def test_one_task_or_an_interactive_shell_is_a_single_process() -> None:
    assert detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}).launcher == "single"
    shell = {"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_JOB_NAME": "bash"}
    assert detect(shell).launcher == "single"
    assert detect({**shell, "SLURM_STEP_NUM_TASKS": "1"}).launcher == "single"
    assert detect({}).world_size == 1


@pytest.mark.parametrize("job_name", ["bash", "interactive"])
def test_srun_of_several_tasks_inside_an_interactive_job_is_that_many_ranks(
    job_name: str,
) -> None:
    """Every step inherits the job's name; the step's own task count tells."""
    step = {"SLURM_PROCID": "1", "SLURM_NTASKS": "1", "SLURM_STEP_NUM_TASKS": "2"}
    launch = detect({**step, "SLURM_JOB_NAME": job_name})
    assert (launch.launcher, launch.rank, launch.world_size) == ("slurm", 1, 2)


def test_a_slurm_task_is_still_named_slurm_after_its_variables_are_exported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`export` writes torchrun's variables; messages (the resume command) name the launcher."""
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(name, "")  # recorded, so that what `export` writes is undone
        monkeypatch.delenv(name)
    monkeypatch.setattr(launch_module, "_exported", None)
    slurm = {"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_JOB_ID": "7"}
    for name, value in slurm.items():
        monkeypatch.setenv(name, value)
    export(detect())
    launch = detect()
    assert (launch.launcher, launch.rank, launch.world_size) == ("slurm", 1, 2)
    assert resume_command(Path("runs/x")).endswith("launched as this job was (slurm, 2 processes)")
    monkeypatch.setenv("MASTER_PORT", "29600")  # set anew by someone else: torchrun's now
    assert detect().launcher == "torchrun"


def test_launch_variables_that_name_no_place_in_the_job_are_refused_by_name() -> None:
    slurm = {"SLURM_PROCID": "1", "SLURM_NTASKS": "4"}
    for env, message in (
        (
            {**slurm, "SLURM_PROCID": "4"},
            "SLURM_PROCID='4' is out of range (it must be from 0 to 3)",
        ),
        ({**slurm, "SLURM_LOCALID": "-1"}, "SLURM_LOCALID='-1' is out of range"),
        ({**slurm, "SLURM_NTASKS": "four"}, "SLURM_NTASKS='four' is not a whole number"),
        ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE='0' is out of range"),
        ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "http"}, "MASTER_PORT='http' is not"),
        ({"RANK": "0"}, "RANK='0' is set but WORLD_SIZE is not"),
    ):
        with pytest.raises(LaunchError, match=re.escape(message)):
            detect(env)
    assert detect({"WORLD_SIZE": "1"}).launcher == "single"


def test_the_rendezvous_timeout_is_read_in_seconds_and_checked() -> None:
    from noether.core.rendezvous import DEFAULT_TIMEOUT, rendezvous_timeout

    assert rendezvous_timeout({}) == DEFAULT_TIMEOUT
    assert rendezvous_timeout({"NOETHER_RENDEZVOUS_TIMEOUT": "2.5"}) == 2.5
    for text in ("0", "-3", "soon", "inf", "nan"):
        with pytest.raises(LaunchError, match=f"NOETHER_RENDEZVOUS_TIMEOUT={text!r} is not"):
            rendezvous_timeout({"NOETHER_RENDEZVOUS_TIMEOUT": text})
