"""Several real processes as the ranks of one gloo job on this host, as torchrun would start
them, for tests of distributed training."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from typing import NoReturn

from noether.core.distributed import leave_process_group


class RankFailedError(RuntimeError):
    """A rank exited with a non-zero code (the message holds its output)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def end_rank(code: int = 0) -> NoReturn:
    """Ends a rank's process once everything is written: leaves the process group, flushes
    the output and exits without the interpreter's teardown, which torch's gloo threads
    abort now and then ("terminate called without an active exception", ~1 in 60 runs)."""
    leave_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_ranks(argv: Sequence[str], world_size: int, timeout: float = 240.0) -> list[str]:
    """Starts `argv` once per rank with torchrun's environment variables (RANK, LOCAL_RANK,
    WORLD_SIZE, MASTER_ADDR, MASTER_PORT; one thread each) and waits for all of them.

    Returns:
        Each rank's output (stdout and stderr together), in rank order.

    Raises:
        RankFailedError: a rank exited with a non-zero code.
        subprocess.TimeoutExpired: a rank ran longer than `timeout` seconds.
    """
    port = free_port()
    processes = []
    for rank in range(world_size):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world_size),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        processes.append(
            subprocess.Popen(
                list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = []
    try:
        for rank, process in enumerate(processes):
            output, _ = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise RankFailedError(f"rank {rank} exited with {process.returncode}:\n{output}")
            outputs.append(output)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return outputs
