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
"""A shell inside an allocation (salloc) is one process, whatever SLURM_NTASKS says; where
SLURM names the step's tasks (SLURM_STEP_NUM_TASKS), that number tells, since every step
inherits the job's name (`srun -n 2` inside `srun --pty bash` is two ranks)."""


class LaunchError(ValueError):
    """The launcher's variables do not describe a place in a job (named in the message)."""


def _number(env: Mapping[str, str], name: str, minimum: int, maximum: int | None = None) -> int:
    """The whole number in variable `name`, checked against its range.

    Raises:
        LaunchError: not a whole number, or out of range; names the variable and its value.
    """
    text = env[name]
    try:
        value = int(text)
    except ValueError:
        raise LaunchError(f"{name}={text!r} is not a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
        raise LaunchError(f"{name}={text!r} is out of range (it must be {bound})")
    return value


def _torchrun(env: Mapping[str, str]) -> LaunchEnvironment:
    """torchrun's variables (or a launcher that sets the same), checked."""
    world_size = _number(env, "WORLD_SIZE", 1)
    port = env.get("MASTER_PORT")
    return LaunchEnvironment(
        launcher="torchrun",
        rank=_number(env, "RANK", 0, world_size - 1),
        world_size=world_size,
        local_rank=_number(env, "LOCAL_RANK", 0) if "LOCAL_RANK" in env else 0,
        master_addr=env.get("MASTER_ADDR"),
        master_port=_number(env, "MASTER_PORT", 1, 65535) if port else None,
    )


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


_exported: LaunchEnvironment | None = None
"""The SLURM task that `export` gave torchrun's variables: `detect` still names SLURM."""
_EXPORTED = ("RANK", "WORLD_SIZE", "MASTER_PORT")


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: `gpu[03-05,9],cpu1` -> `gpu03`."""
    first = re.split(r",(?![^\[]*\])", nodelist.strip(), maxsplit=1)[0]
    # every bracket group stands for its first value, zero padding kept
    return re.sub(r"\[([^\]]*)\]", lambda m: re.split(r"[-,]", m.group(1))[0], first)


def tasks_name(env: Mapping[str, str]) -> str:
    """The variable that holds the SLURM step's number of tasks."""
    return "SLURM_STEP_NUM_TASKS" if env.get("SLURM_STEP_NUM_TASKS") else "SLURM_NTASKS"


def detect(environ: Mapping[str, str] | None = None) -> LaunchEnvironment:
    """Reads the launcher's variables (torchrun first, then SLURM).

    Raises:
        LaunchError: a variable that is not a whole number or out of range, or only one of
            RANK and WORLD_SIZE (each process would train alone, as if it were the job).
    """
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        exported = _exported
        if exported is not None and [env.get(name) for name in _EXPORTED] == [
            str(exported.rank),
            str(exported.world_size),
            str(exported.master_port),
        ]:
            return exported  # what `export` wrote for this SLURM task
        return _torchrun(env)
    alone = "RANK" if "RANK" in env else "WORLD_SIZE" if env.get("WORLD_SIZE", "1") != "1" else None
    if alone is not None:
        missing = "WORLD_SIZE" if alone == "RANK" else "RANK"
        raise LaunchError(
            f"{alone}={env[alone]!r} is set but {missing} is not: start the ranks with torchrun "
            "or srun, or give every process RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT"
        )
    tasks = env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS")
    if (
        "SLURM_PROCID" in env
        and tasks is not None
        and _number(env, tasks_name(env), 1) > 1
        and (
            bool(env.get("SLURM_STEP_NUM_TASKS"))
            or env.get("SLURM_JOB_NAME") not in _INTERACTIVE_JOB_NAMES
        )
    ):
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or ""
        job_id = env.get("SLURM_JOB_ID", "")
        port = env.get("MASTER_PORT")
        if port:
            master_port = _number(env, "MASTER_PORT", 1, 65535)
        elif job_id.isdigit():
            master_port = _SLURM_PORT_BASE + int(job_id) % _SLURM_PORT_SPAN
        else:
            master_port = DEFAULT_PORT
        return LaunchEnvironment(
            launcher="slurm",
            rank=_number(env, "SLURM_PROCID", 0, int(tasks) - 1),
            world_size=int(tasks),
            local_rank=_number(env, "SLURM_LOCALID", 0) if "SLURM_LOCALID" in env else 0,
            master_addr=env.get("MASTER_ADDR")
            or (first_host(nodelist) if nodelist else None)
            or "127.0.0.1",
            master_port=master_port,
        )
    return LaunchEnvironment(launcher="single")


def export(launch: LaunchEnvironment) -> None:
    """Sets torchrun's variables for a SLURM task, so torch (env://) and tools reading them
    see the same rank, world size and rendezvous."""
    global _exported
    if launch.launcher != "slurm":
        return
    _exported = launch
    os.environ["RANK"] = str(launch.rank)
    os.environ["WORLD_SIZE"] = str(launch.world_size)
    os.environ["LOCAL_RANK"] = str(launch.local_rank)
    os.environ["MASTER_ADDR"] = str(launch.master_addr)
    os.environ["MASTER_PORT"] = str(launch.master_port)
