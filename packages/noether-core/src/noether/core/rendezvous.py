"""Where the ranks of one job meet: a bounded rendezvous, and the start checks they pass together.

torch's rendezvous waits as long as its collectives do (30 minutes by default): a rank whose
rank 0 never opened the rendezvous (its port taken by another job) waited that long after
rank 0 had exited. Here the ranks meet first, within `NOETHER_RENDEZVOUS_TIMEOUT` seconds
(default 300), and each rank's failure names the address. A rank that joined another job's
rendezvous (two jobs given one port) is told so, as soon as it meets that job's ranks.

Once met, the ranks pass each start check together (`Rendezvous.agree`): each rank posts what
its check printed and its exit code, a message is printed once (by the lowest rank that has
it), and every rank stops when any rank did, with that rank's exit code.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch.distributed as dist
from torch.distributed.rendezvous import rendezvous

from noether.core.launch import LaunchEnvironment, LaunchError, export
from noether.core.run_signals import skip_teardown

TIMEOUT_VARIABLE = "NOETHER_RENDEZVOUS_TIMEOUT"
DEFAULT_TIMEOUT = 300.0
"""Seconds the ranks wait for each other at the start (tasks of a job start within seconds;
imports from a slow shared file system may take a minute)."""
_POLL_SECONDS = 0.02
_EXIT_GRACE_SECONDS = 10.0
_RANK_AND_TIME = re.compile(r"^(\[rank \d+\] )?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )?")
"""The rank and the time at the start of a line: two ranks' same message differs only there."""


class RendezvousError(RuntimeError):
    """The ranks of the job did not meet (the message says where and why)."""


def rendezvous_timeout(environ: Mapping[str, str] | None = None) -> float:
    """The seconds the ranks wait for each other at the start.

    Raises:
        LaunchError: `NOETHER_RENDEZVOUS_TIMEOUT` is not a positive number.
    """
    env = os.environ if environ is None else environ
    text = env.get(TIMEOUT_VARIABLE, "")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise LaunchError(f"{TIMEOUT_VARIABLE}={text!r} is not a positive number of seconds")
    return seconds


def job_identity(launch: LaunchEnvironment, environ: Mapping[str, str] | None = None) -> str:
    """What every rank of one job shares: its launcher's job (and step) and its size."""
    env = os.environ if environ is None else environ
    names = ("SLURM_JOB_ID", "SLURM_STEP_ID", "TORCHELASTIC_RUN_ID")
    parts = [f"{name}={env[name]}" for name in names if env.get(name)]
    return ", ".join([f"{launch.world_size} ranks", *parts])


@dataclass
class Rendezvous:
    """The ranks of this job, met at `where`; `store` is theirs to share."""

    store: dist.Store  # type: ignore[name-defined]  # public; torch does not re-export it to mypy
    launch: LaunchEnvironment
    """Who launched the job (read before `join` set torchrun's variables for srun's tasks)."""
    timeout: float
    where: str
    prefix: str

    def _wait(self, keys: list[str], what: str, why: str = "their own output says why") -> None:
        """Returns once every key is set (each ends in a rank); polls, so that a signal is
        handled at once.

        Raises:
            RendezvousError: some ranks did not set theirs within the timeout (named).
        """
        deadline = time.monotonic() + self.timeout
        while not self._check(keys, what):
            if time.monotonic() > deadline:
                missing = [key.rsplit("/", 1)[-1] for key in keys if not self.store.check([key])]
                raise RendezvousError(
                    f"rank {self.launch.rank}: rank(s) {', '.join(missing)} did not {what} within "
                    f"{self.timeout:g} s ({TIMEOUT_VARIABLE}); {why}"
                )
            time.sleep(_POLL_SECONDS)

    def _check(self, keys: list[str], what: str) -> bool:
        """Whether every key is set.

        Raises:
            RendezvousError: the store is gone: the process that served it (rank 0's, or
                torchrun's agent) ended.
        """
        try:
            return bool(self.store.check(keys))
        except RuntimeError as exc:  # torch's DistNetworkError
            raise RendezvousError(
                f"rank {self.launch.rank}: lost the rendezvous at {self.where} while waiting "
                f"for the ranks to {what} ({str(exc).strip().splitlines()[0]}): rank 0 or the "
                "launcher ended; its own output says why"
            ) from None

    def differences(self, step: str, facts: Mapping[str, str]) -> list[str]:
        """What this rank's `facts` (e.g. its config, its packages' versions) have other than
        rank 0's, one line per key, rank 0's value first."""
        self.store.set(f"{self.prefix}/{step}/{self.launch.rank}", json.dumps(dict(facts)))
        first = f"{self.prefix}/{step}/0"
        self._wait([first], f"post its '{step}' (rank 0)")
        theirs: dict[str, str] = json.loads(self.store.get(first))
        keys = sorted(set(theirs) | set(facts))
        return [
            f"{key}: {theirs.get(key, '(not set)')} on rank 0, "
            f"{facts.get(key, '(not set)')} on rank {self.launch.rank}"
            for key in keys
            if theirs.get(key) != facts.get(key)
        ]

    def agree(self, step: str, code: int, text: str) -> int:
        """Passes a start check with the other ranks; returns this rank's exit code (0: go on).

        Args:
            step: the check's name (each is passed once).
            code: this rank's exit code of the check (0: passed).
            text: what the check printed on this rank; its lines are printed here but for
                those a lower rank printed too (compared without rank and time), so an
                error that every rank finds is said once, also next to a note that only rank
                0 prints.
        """
        base = f"{self.prefix}/{step}"
        self.store.set(f"{base}/{self.launch.rank}", json.dumps([code, text]))
        keys = [f"{base}/{rank}" for rank in range(self.launch.world_size)]
        try:
            self._wait(keys, f"reach the start check '{step}'")
        except RendezvousError:
            sys.stderr.write(text)
            raise
        outcomes = [json.loads(self.store.get(key)) for key in keys]
        said = {
            _RANK_AND_TIME.sub("", line)
            for _, other in outcomes[: self.launch.rank]
            for line in other.splitlines()
        }
        own = [line for line in text.splitlines() if _RANK_AND_TIME.sub("", line) not in said]
        if own:
            sys.stderr.write("\n".join(own) + "\n")
            sys.stderr.flush()
        failed = [other for other, _ in outcomes if other != 0]
        if not failed:
            return 0
        # leave together: a launcher ends the others once one has exited
        if self.store.add(f"{base}/read", 1) == self.launch.world_size:
            self.store.set(f"{base}/all-read", "1")
        self._wait([f"{base}/all-read"], f"read the outcome of '{step}'")
        # rank 0 leaves last: its process may serve the store, which the others still read
        if self.launch.rank:
            self.store.set(f"{base}/gone/{self.launch.rank}", "1")
        else:
            others = [f"{base}/gone/{rank}" for rank in range(1, self.launch.world_size)]
            self._wait(others, f"read the outcome of '{step}'")
        return code or int(failed[0])


def _unstarted(launch: LaunchEnvironment) -> str:
    """What to check when ranks did not connect: were they all started."""
    if launch.launcher == "slurm":
        return (
            "were all the job's tasks started? (srun starts one per task; `noether-train` alone "
            "in a batch script of several tasks is one of them: use `srun noether-train`)"
        )
    return "were all the job's processes started? (their own output says why not)"


def _failure(launch: LaunchEnvironment, where: str, timeout: float, exc: BaseException) -> str:
    """Why this rank could not meet the others, in a user's words."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "EADDRINUSE" in reason or "address already in use" in reason.lower():
        return (
            f"rank {launch.rank} cannot open the rendezvous at {where}: port "
            f"{launch.master_port} is in use (another job or program holds it); give this "
            "job a free port with MASTER_PORT"
        )
    timed_out = isinstance(exc, TimeoutError) or "timed out" in reason.lower()
    serves = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"  # else torchrun's agent
    if timed_out and launch.rank == 0 and serves:
        return (  # rank 0 serves the rendezvous and waits for every other rank to connect
            f"rank 0 opened the rendezvous at {where}, but not all {launch.world_size - 1} "
            f"other rank(s) connected within {timeout:g} s ({TIMEOUT_VARIABLE}): "
            + _unstarted(launch)
        )
    if timed_out:
        return (
            f"rank {launch.rank} could not join the rendezvous at {where} within {timeout:g} s "
            f"({TIMEOUT_VARIABLE}): rank 0 did not open it (its own error says why), or "
            "another program holds the port"
        )
    if "reset by peer" in reason or "refused" in reason:  # after torch's retries
        return (
            f"rank {launch.rank} could not join the rendezvous at {where}: {reason}; rank 0 "
            "did not open it (its own error says why), or another program holds the port"
        )
    return f"rank {launch.rank} could not join the rendezvous at {where}: {reason}"


def _check_address(launch: LaunchEnvironment, where: str) -> None:
    """Fails at once on a MASTER_ADDR that names no host (torch tries it until its timeout).

    Raises:
        RendezvousError: the host name does not resolve (the message names it).
    """
    host = os.environ.get("MASTER_ADDR")
    if not host:
        return  # torch names the missing variable
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError) as exc:
        raise RendezvousError(
            f"rank {launch.rank} cannot reach the rendezvous at {where}: the host {host!r} "
            f"(MASTER_ADDR, or the first node of SLURM's node list) does not resolve: {exc}"
        ) from None


@contextlib.contextmanager
def _cpp_log_dropped() -> Iterator[None]:
    """Standard error (file descriptor 2) goes nowhere while torch connects: its C++ log
    writes each failed try with a C++ stack trace, dozens of lines around the one-line error
    that this module gives instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _join_quietly(thread: threading.Thread, seconds: float) -> None:
    """Waits up to `seconds` for torch's connecting thread, with its C++ log dropped."""
    with _cpp_log_dropped():
        thread.join(seconds)


def _connect(launch: LaunchEnvironment, where: str, timeout: float) -> dist.Store:  # type: ignore[name-defined]
    """torch's env:// rendezvous store, within `timeout` seconds.

    torch bounds its connection attempts, but not a reply that never comes: a rank that
    reached a port held by another program waited for that program to close it. torch's
    call runs in a thread that this one waits for, in short steps (so a signal is handled).
    """
    outcome: list[Any] = []

    def connect() -> None:
        try:
            store, _, _ = next(
                rendezvous(
                    "env://", launch.rank, launch.world_size, timeout=timedelta(seconds=timeout)
                )
            )
            outcome.append(store)
        except (RuntimeError, ValueError, OSError) as exc:  # torch's DistError: a RuntimeError
            outcome.append(exc)

    thread = threading.Thread(target=connect, name="noether-rendezvous", daemon=True)
    # torch's own timeout, when it applies, first: its last retry may end a little after it
    deadline = time.monotonic() + timeout + 1.0 + min(timeout, _EXIT_GRACE_SECONDS)
    with _cpp_log_dropped():
        thread.start()
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(_POLL_SECONDS * 5)
    if not outcome:
        # torch's call returning while the interpreter shuts down aborts the process: let it
        # end first, when it ends by itself (one waiting for a reply never does), its log
        # dropped still (on a loaded host torch may start trying late, and log after this)
        atexit.register(_join_quietly, thread, _EXIT_GRACE_SECONDS)
        outcome.append(TimeoutError(f"no answer within {timeout:g} s"))
    if isinstance(outcome[0], BaseException):
        raise RendezvousError(_failure(launch, where, timeout, outcome[0]))
    return outcome[0]


def join(launch: LaunchEnvironment) -> Rendezvous:
    """Meets the job's other ranks (rank 0 opens the rendezvous, unless torchrun's agent did).

    Raises:
        RendezvousError: the ranks did not meet within the timeout, rank 0 cannot open its
            port, or this rank met another job (the message names the address).
        LaunchError: a bad `NOETHER_RENDEZVOUS_TIMEOUT`.
    """
    timeout = rendezvous_timeout()
    export(launch)
    where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
    _check_address(launch, where)
    skip_teardown()  # also for a stop while connecting
    store = _connect(launch, where, timeout)
    # torchrun's agent keeps its store over restarts: each attempt has its own keys
    prefix = f"noether/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    meeting = Rendezvous(store, launch, timeout, where, prefix)
    other_job = (
        f"rank {launch.rank} met another job at the rendezvous {where}: its port is taken by "
        "a job that started first; give each job its own MASTER_PORT"
    )
    identity = job_identity(launch)
    if launch.rank:  # the job is checked first: a rank of another job takes no one's place
        meeting._wait(
            [f"{prefix}/job/0"],
            "confirm the rendezvous",
            f"rank 0 confirms it once all {launch.world_size} ranks connected: "
            + _unstarted(launch),
        )
        theirs = store.get(f"{prefix}/job/0").decode()
        if theirs != identity:
            raise RendezvousError(f"{other_job} (rank 0 has {theirs}; this rank {identity})")
    if store.add(f"{prefix}/rank/{launch.rank}", 1) > 1:
        raise RendezvousError(f"{other_job} (rank {launch.rank} had joined already)")
    if launch.rank == 0:
        store.set(f"{prefix}/job/0", identity)
    # from here on, the store serves the process group: as patient as its collectives
    store.set_timeout(dist.default_pg_timeout)
    return meeting
