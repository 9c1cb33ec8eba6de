"""How a multi-process run starts and fails to start: a rendezvous that cannot happen ends
every rank within `NOETHER_RENDEZVOUS_TIMEOUT`, naming the address; a job that meets another
job at its port is refused; an error found while starting is said once, and every rank exits
with the documented exit code. Real processes: srun-style tasks and torchrun, two gloo ranks.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, NOETHER_TRAIN, TORCHRUN, environment, free_port, run_dirs

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _start_srun_tasks(
    cwd: Path,
    port: int,
    *args: str,
    job_id: str = "7",
    timeout: float = 5,
    ranks: tuple[int, ...] = (0, 1),
    rank_args: dict[int, tuple[str, ...]] | None = None,
) -> list[subprocess.Popen[str]]:
    """Tasks `ranks` of a two-task SLURM job step, as srun starts them, meeting at
    localhost:`port`."""
    cwd.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in environment().items() if k not in LAUNCH_VARIABLES}
    return [
        subprocess.Popen(
            [str(NOETHER_TRAIN), str(CONFIG), *args, *(rank_args or {}).get(rank, ())],
            cwd=cwd,
            env={
                **base,
                "SLURM_PROCID": str(rank),
                "SLURM_LOCALID": str(rank),
                "SLURM_NTASKS": "2",
                "SLURM_JOB_ID": job_id,
                "SLURM_JOB_NODELIST": "localhost",
                "SLURM_JOB_NAME": "train",
                "MASTER_PORT": str(port),
                "NOETHER_RENDEZVOUS_TIMEOUT": str(timeout),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in ranks
    ]


def _finish(processes: list[subprocess.Popen[str]], timeout: float = 90) -> list[str]:
    """Each process's stderr once all ended (killed after `timeout` seconds: a hang)."""
    try:
        return [p.communicate(timeout=timeout)[1] for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _wait_until_handled(processes: list[subprocess.Popen[str]], signum: int) -> None:
    """Until each process has a handler for `signum` (Linux's SigCgt mask): before it, the
    interpreter is still starting and the signal kills it, which no program can change."""
    deadline = time.monotonic() + 60
    for process in processes:
        while time.monotonic() < deadline and process.poll() is None:
            status = Path(f"/proc/{process.pid}/status").read_text()
            caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
            if int(caught.split()[1], 16) >> (signum - 1) & 1:
                break
            time.sleep(0.01)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_taken_rendezvous_port_ends_every_srun_task_promptly_naming_it(tmp_path: Path) -> None:
    """Rank 0 cannot listen; rank 1 reaches a program that never answers (torch alone waited
    for its collectives' 30 minutes, or until that program closed the port)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(8)
        port = taken.getsockname()[1]
        started = time.monotonic()
        processes = _start_srun_tasks(tmp_path, port, "trainer.max_epochs=1", timeout=3)
        errors = _finish(processes)
        elapsed = time.monotonic() - started
    assert [p.returncode for p in processes] == [1, 1], errors
    assert (
        f"rank 0 cannot open the rendezvous at localhost:{port}: port {port} is in use"
        in (errors[0])
    )
    assert f"rank 1 could not join the rendezvous at localhost:{port} within 3 s" in errors[1]
    assert "Traceback" not in errors[0] + errors[1]
    assert elapsed < 60  # start-up (imports) plus the 3 s, not torch's 30 minutes
    assert run_dirs(tmp_path) == []


def test_a_rank_whose_rank_0_or_rank_1_never_came_says_so_in_one_line(tmp_path: Path) -> None:
    """Nothing listens at the port: torch's client retries until its timeout, logging each
    try from C++ with a C++ stack trace; the rank's standard error holds only its error.
    Rank 0 alone (`noether-train` in a batch script of two tasks, without srun) is told that
    the other rank never connected, not that rank 0 did not open the rendezvous."""
    port, port_0 = free_port(), free_port()
    alone = [
        *_start_srun_tasks(tmp_path / "1", port, "trainer.max_epochs=1", ranks=(1,), timeout=3),
        *_start_srun_tasks(tmp_path / "0", port_0, "trainer.max_epochs=1", ranks=(0,), timeout=3),
    ]
    error, error_0 = _finish(alone)
    assert [p.returncode for p in alone] == [1, 1], error + error_0
    lines = [line for line in error.splitlines() if line.strip()]
    assert lines == [
        f"noether-train: rank 1 could not join the rendezvous at localhost:{port} within 3 s "
        "(NOETHER_RENDEZVOUS_TIMEOUT): rank 0 did not open it (its own error says why), or "
        "another program holds the port"
    ], error
    lines = [line for line in error_0.splitlines() if line.strip()]
    assert lines == [
        f"noether-train: rank 0 opened the rendezvous at localhost:{port_0}, but not all 1 other "
        "rank(s) connected within 3 s (NOETHER_RENDEZVOUS_TIMEOUT): were all the job's tasks "
        "started? (srun starts one per task; `noether-train` alone in a batch script of several "
        "tasks is one of them: use `srun noether-train`)"
    ], error_0
    assert run_dirs(tmp_path / "0") == run_dirs(tmp_path / "1") == []


def test_a_job_given_the_port_of_another_job_is_refused_by_both_its_tasks(
    tmp_path: Path,
) -> None:
    """The first job holds the port (its rank 0 waits for its rank 1); the second job's
    rank 1 reaches the first job's rendezvous, and is told so instead of joining it. The
    first job's own rank 1, coming later, still takes its place and the job trains (the
    stray rank had taken it: the first job failed too, after its 300 s)."""
    port = free_port()
    first = _start_srun_tasks(
        tmp_path / "first", port, "trainer.max_epochs=1", job_id="1", timeout=60, ranks=(0,)
    )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):  # the first job's rank 0 opened the rendezvous
            assert time.monotonic() < deadline and first[0].poll() is None
            time.sleep(0.1)
        second = _start_srun_tasks(tmp_path / "second", port, job_id="2")
        errors = _finish(second)
        first += _start_srun_tasks(
            tmp_path / "first", port, "trainer.max_epochs=1", job_id="1", timeout=60, ranks=(1,)
        )
        first_errors = _finish(first)
    finally:
        for process in first:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert [p.returncode for p in second] == [1, 1], errors
    assert f"port {port} is in use" in errors[0]
    assert f"rank 1 met another job at the rendezvous localhost:{port}" in errors[1]
    assert "SLURM_JOB_ID=1" in errors[1] and "SLURM_JOB_ID=2" in errors[1]
    assert run_dirs(tmp_path / "second") == []
    assert [p.returncode for p in first] == [0, 0], first_errors
    assert len(run_dirs(tmp_path / "first")) == 1


def test_a_config_error_under_torchrun_is_said_once_and_every_rank_exits_1(
    tmp_path: Path,
) -> None:
    command = [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", str(NOETHER_TRAIN)]
    result = subprocess.run(
        [*command, str(CONFIG), "trainer.max_epochz=3"],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 1
    assert result.stderr.count("trainer.max_epochz: unknown key") == 1, result.stderr
    assert result.stderr.count("is not a valid experiment config") == 1
    # torchrun's summary: both workers exited 1 themselves (none was ended by a signal)
    assert result.stderr.count("exitcode  : 1 ") == 2, result.stderr
    assert run_dirs(tmp_path) == []


def test_ranks_started_with_different_configs_refuse_to_train_naming_the_difference(
    tmp_path: Path,
) -> None:
    """Another learning rate on one rank trained on silently (DDP checks shapes only)."""
    processes = _start_srun_tasks(
        tmp_path,
        free_port(),
        "trainer.max_epochs=1",
        rank_args={0: ("model.optimizer.lr=0.01",), 1: ("model.optimizer.lr=0.02",)},
        timeout=30,
    )
    errors = _finish(processes)
    assert [p.returncode for p in processes] == [1, 1], errors
    assert "the ranks of this job would train different runs" in errors[1]
    assert "model.optimizer.lr: 0.01 on rank 0, 0.02 on rank 1" in errors[1]
    assert "different runs" not in errors[0]  # said once, by the rank that differs
    assert run_dirs(tmp_path) == []


def test_a_config_error_of_srun_tasks_is_said_once_and_rank_0_leaves_last(
    tmp_path: Path,
) -> None:
    """Rank 0 serves the rendezvous store under srun: it left as soon as both ranks had agreed
    on the error, while rank 1 still read the store; rank 1 then printed torch's C++ stack
    and a Python traceback (7 of 7 tries)."""
    processes = _start_srun_tasks(tmp_path, free_port(), "trainer.max_epochs=-1", timeout=30)
    errors = _finish(processes)
    assert [p.returncode for p in processes] == [1, 1], errors
    assert "trainer.max_epochs" in errors[0]
    assert "trainer.max_epochs" not in errors[1]  # said once
    for wrong in ("Traceback", "recvValue", "lost the rendezvous"):
        assert wrong not in errors[1], errors[1]
    assert run_dirs(tmp_path) == []


def _train(cwd: Path, *args: str | Path, ranks: int = 1) -> subprocess.CompletedProcess[str]:
    """`noether-train ARGS` to its end: alone, or as `ranks` torchrun ranks."""
    launcher = [str(TORCHRUN), "--standalone", "--nproc-per-node", str(ranks)] if ranks > 1 else []
    return subprocess.run(
        [*launcher, str(NOETHER_TRAIN), *map(str, args)],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_refused_resume_next_to_a_note_of_rank_0_is_said_once(tmp_path: Path) -> None:
    """Rank 0 prints the config's notes, the others do not: the refusal that all ranks find
    was printed twice, once by rank 0 after its note and once by rank 1."""
    first = _train(tmp_path, CONFIG, "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    never_runs = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 9, save_optim: true}]"
    result = _train(tmp_path, "--resume", run_dir, "seed=5", never_runs, ranks=2)
    assert result.returncode == 1
    assert result.stderr.count("note: ") == 1, result.stderr
    assert result.stderr.count(f"cannot resume {run_dir}") == 1, result.stderr
    assert result.stderr.count("seed: 3 -> 5") == 1, result.stderr


def test_print_config_under_torchrun_prints_the_config_once(tmp_path: Path) -> None:
    """Every rank resolves the config, rank 0 prints it: the YAML on stdout stays one file."""
    alone = _train(tmp_path, CONFIG, "--print-config")
    assert alone.returncode == 0, alone.stderr
    result = _train(tmp_path, CONFIG, "--print-config", ranks=2)
    assert result.returncode == 0, result.stderr
    assert result.stdout == alone.stdout


def test_sigterm_to_both_tasks_while_they_start_exits_75_on_each(tmp_path: Path) -> None:
    """SLURM's pre-emption signals every task at once, at any moment of the start: in torch's
    import (whose C start-up dropped the handler's exception: the rank went on to meet a peer
    that had left, and exited 1 naming the rendezvous), while the ranks meet (torch's store
    then aborted the process at exit, 134), or while they build. Every task must exit 75,
    which the requeue script resumes."""
    seed = random.randrange(2**32)  # each run tries other moments (named when one fails)
    rng = random.Random(seed)
    for trial, delay in enumerate(rng.uniform(0.0, 2.5) for _ in range(4)):
        tasks = _start_srun_tasks(tmp_path / str(trial), free_port(), timeout=30)
        _wait_until_handled(tasks, signal.SIGTERM)  # a loaded host starts Python slowly
        time.sleep(delay)
        for task in tasks:
            task.send_signal(signal.SIGTERM)
        errors = _finish(tasks)
        for task, stderr in zip(tasks, errors, strict=True):
            where = f"seed {seed}, {delay:.2f} s after both handled SIGTERM"
            assert task.returncode == 75, f"{where}: {stderr}"
            assert "stopped by SIGTERM" in stderr, f"{where}: {stderr}"
            for wrong in ("Traceback", "terminate called", "could not join", "did not "):
                assert wrong not in stderr, f"{where}: {stderr}"
