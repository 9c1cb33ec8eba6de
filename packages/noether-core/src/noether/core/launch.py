"""Who started this process: torchrun, SLURM's srun, or nobody; and the process group it implies.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT. srun sets SLURM_*
variables instead: the rank is SLURM_PROCID, the world size the step's task count, the local
rank SLURM_LOCALID; the master is the first host of the job's node list (or MASTER_ADDR when
set) and the port is derived from the job id, so every task of a job computes the same one.
torchrun's variables win, so torchrun inside an sbatch script works as anywhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PORT = 29500
"""torchrun's default rendezvous port, also used by SLURM jobs without a job id."""
_SLURM_PORT_BASE = 15000
_SLURM_PORT_SPAN = 20000
_INTERACTIVE_JOB_NAMES = ("bash", "interactive")
"""A shell inside an allocation (salloc) is one process, whatever SLURM_NTASKS says."""


@dataclass(frozen=True)
class LaunchEnvironment:
    """This process's place in the job."""

    launcher: str
    """`torchrun`, `slurm` or `single`."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: `gpu[03-05,9],cpu1` -> `gpu03`."""
    first = re.split(r",(?![^\[]*\])", nodelist.strip(), maxsplit=1)[0]
    # every bracket group stands for its first value, zero padding kept
    return re.sub(r"\[([^\]]*)\]", lambda m: re.split(r"[-,]", m.group(1))[0], first)


def detect(environ: Mapping[str, str] | None = None) -> LaunchEnvironment:
    """Reads the launcher's variables (torchrun first, then SLURM)."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        port = env.get("MASTER_PORT")
        return LaunchEnvironment(
            launcher="torchrun",
            rank=int(env["RANK"]),
            world_size=int(env["WORLD_SIZE"]),
            local_rank=int(env.get("LOCAL_RANK", "0")),
            master_addr=env.get("MASTER_ADDR"),
            master_port=int(port) if port else None,
        )
    tasks = env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS")
    if (
        "SLURM_PROCID" in env
        and tasks is not None
        and int(tasks) > 1
        and env.get("SLURM_JOB_NAME") not in _INTERACTIVE_JOB_NAMES
    ):
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or ""
        job_id = env.get("SLURM_JOB_ID", "")
        port = env.get("MASTER_PORT")
        if port:
            master_port = int(port)
        elif job_id.isdigit():
            master_port = _SLURM_PORT_BASE + int(job_id) % _SLURM_PORT_SPAN
        else:
            master_port = DEFAULT_PORT
        return LaunchEnvironment(
            launcher="slurm",
            rank=int(env["SLURM_PROCID"]),
            world_size=int(tasks),
            local_rank=int(env.get("SLURM_LOCALID", "0")),
            master_addr=env.get("MASTER_ADDR")
            or (first_host(nodelist) if nodelist else None)
            or "127.0.0.1",
            master_port=master_port,
        )
    return LaunchEnvironment(launcher="single")


def export(launch: LaunchEnvironment) -> None:
    """Sets torchrun's variables for a SLURM task, so torch (env://) and tools reading them
    see the same rank, world size and rendezvous."""
    if launch.launcher != "slurm":
        return
    os.environ["RANK"] = str(launch.rank)
    os.environ["WORLD_SIZE"] = str(launch.world_size)
    os.environ["LOCAL_RANK"] = str(launch.local_rank)
    os.environ["MASTER_ADDR"] = str(launch.master_addr)
    os.environ["MASTER_PORT"] = str(launch.master_port)
