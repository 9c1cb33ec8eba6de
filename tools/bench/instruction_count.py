"""Instructions per update of the trainer against the plain loop, counted by callgrind (run by
hand; about ten minutes for workload A).

`loop_overhead.py` times the sides, and on a shared host the time of a run drifts by more than
the few percent it measures. The number of instructions a run executes does not depend on the
host's load; it still moves a little from one process to the next (the allocator's and the
garbage collector's state), several times less than the timings do. Instructions are not
time: warm Python code runs more of them per second than torch's kernels do, and code that
runs once between two updates runs cold, so this count complements the timings of
`loop_overhead.py`; it does not replace them.

The sides are those of `loop_overhead.py` (plain, trainer with default callbacks, bare).
Each is run once uncounted (imports, first-call costs), then once more with callgrind
counting only inside that run (its client requests, through a small C helper built here with
the system's C compiler and valgrind's `callgrind.h`).

    uv run python tools/bench/instruction_count.py
    uv run python tools/bench/instruction_count.py --workload B --tracker noop

Needs valgrind, a C compiler and valgrind's headers (e.g. the `valgrind` package of Debian).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD_ENV = "NOETHER_BENCH_CALLGRIND_HELPER"
"""Set in the process that runs under callgrind: the path of the built helper."""

HELPER_SOURCE = """
#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION;
                         CALLGRIND_TOGGLE_COLLECT; }
void count_stop(const char *name) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS_AT(name);
                                    CALLGRIND_STOP_INSTRUMENTATION; }
"""


def build_helper(folder: Path) -> Path:
    """Compiles the client-request helper into `folder`."""
    source, library = folder / "count.c", folder / "libcount.so"
    source.write_text(HELPER_SOURCE, encoding="utf-8")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("a C compiler (cc) is needed to build the callgrind helper")
    done = subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"could not build the callgrind helper (headers?):\n{done.stderr}")
    return library


def count_sides(workload_name: str, tracker: str, helper: Path) -> None:
    """Runs under callgrind: every side once uncounted, then once counted (one dump each)."""
    import torch
    from loop_sides import WORKLOADS, DictDataset, plain_side, trainer_side

    torch.set_num_threads(1)
    count = ctypes.CDLL(str(helper))
    workload = WORKLOADS[workload_name]
    dataset = DictDataset(workload.samples, workload.dims[0], workload.dims[-1])
    with tempfile.TemporaryDirectory() as output:
        makers = {
            "plain": lambda: plain_side(workload, dataset),
            "trainer": lambda: trainer_side(workload, dataset, tracker, Path(output)),
            "bare": lambda: trainer_side(
                workload, dataset, tracker, Path(output), default_callbacks=False
            ),
        }
        for make in makers.values():
            side = make()
            side.body()
            side.close()
        for name, make in makers.items():
            side = make()
            gc.collect()  # no side pays for collecting the garbage of the sides before it
            count.count_start()
            side.body()
            count.count_stop(name.encode())
            side.close()


def read_counts(folder: Path) -> dict[str, int]:
    """Side name -> instructions, from callgrind's dumps (`desc: Trigger: ... <name>`)."""
    counts: dict[str, int] = {}
    for dump in sorted(folder.glob("callgrind.out.*")):
        text = dump.read_text(encoding="utf-8", errors="replace")
        trigger = re.search(r"^desc: Trigger: Client Request: (\S+)$", text, re.MULTILINE)
        totals = re.search(r"^totals: (\d+)", text, re.MULTILINE)
        if trigger and totals:
            counts[trigger.group(1)] = int(totals.group(1))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["A", "B"], default="A")
    parser.add_argument("--tracker", choices=["jsonl", "noop"], default="jsonl")
    args = parser.parse_args()
    helper = os.environ.get(CHILD_ENV)
    if helper:
        count_sides(args.workload, args.tracker, Path(helper))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is needed (callgrind counts the instructions)")
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        env = dict(os.environ, PYTHONHASHSEED="0")
        env[CHILD_ENV] = str(build_helper(folder))
        command = [
            valgrind,
            "--tool=callgrind",
            "--instr-atstart=no",
            "--collect-atstart=no",
            f"--callgrind-out-file={folder / 'callgrind.out'}",
            sys.executable,
            __file__,
            *sys.argv[1:],
        ]
        done = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the counted run failed:\n{done.stderr[-3000:]}")
        counts = read_counts(folder)
    from loop_sides import WORKLOADS

    updates = WORKLOADS[args.workload].updates
    plain = counts["plain"]
    print(f"workload {args.workload}, instructions per update (callgrind, one run per side):")
    for name, total in counts.items():
        print(f"  {name:8s} {total / updates / 1e3:9.1f} k, ratio {total / plain:.4f}")
    print(f"ratio_vs_plain={counts['trainer'] / plain:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
