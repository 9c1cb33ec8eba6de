"""Whole-process latency of `noether-config validate` against importing its dependencies.

Runs `noether-config validate` on the example configs (examples/**/*.yaml, or the fixture
next to this script when there are none) and `python -c "import pydantic, yaml, typer"`,
interleaved, and prints the medians and, last, `ratio=<validate / imports>`.
The interpreter runs directly (not through `uv run`) so that uv's own start-up is not counted.

CPU time (user + system of the child) is printed too: on a loaded machine it is steadier than
wall time. For scale, `floor` runs the least a pydantic CLI does: a typer app with one
command that validates one trivial pydantic model; the baseline imports pydantic's lazy
top-level package only, so `floor_ratio` shows how much of the ratio any pydantic model costs.

With `--tricks`, each start-up trick of `noether.config.startup` is measured too: the run with
all tricks, with none (NOETHER_CONFIG_STARTUP=plain) and with each one turned off, interleaved;
a trick's gain is how much slower the run is without it.

Usage: python tools/bench/validate_latency.py [--repeats N] [--python PATH] [--tricks] [CONFIG ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixture" / "experiment.yaml"


FLOOR = """
import sys
import typer
import yaml
from pydantic import BaseModel


class Floor(BaseModel):
    x: int


def validate(path: str) -> None:
    Floor.model_validate(yaml.safe_load("x: 1"))


sys.argv = ["floor", "f.yaml"]
typer.run(validate)
"""
"""The floor: a typer command validating one trivial pydantic model (no file is read)."""


def example_configs() -> list[str]:
    """Experiment files of examples/, skipping fragments (`_*` files and folders)."""
    found = sorted((ROOT / "examples").glob("**/*.y*ml"))
    configs = [
        str(path)
        for path in found
        if path.suffix in {".yaml", ".yml"}
        and not any(part.startswith(("_", ".")) for part in path.relative_to(ROOT).parts)
    ]
    return configs or [str(FIXTURE)]


def bench_environment(cache: str) -> dict[str, str]:
    """Bytecode cached in a private folder, as after a normal install (the workspace sets
    PYTHONDONTWRITEBYTECODE, which would make every run recompile the editable sources)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


def startup_tricks(python: str) -> tuple[str, ...]:
    """The trick names of `noether.config.startup`, asked of the workspace interpreter."""
    code = "from noether.config.startup import TRICKS; print(' '.join(TRICKS))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return tuple(done.stdout.split())


def variants(python: str, tricks: bool) -> dict[str, str | None]:
    """Run name -> NOETHER_CONFIG_STARTUP value (None: unset, every trick on)."""
    runs: dict[str, str | None] = {"validate": None}
    if tricks:
        runs["plain"] = "plain"
        runs.update({f"without {name}": name for name in startup_tricks(python)})
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter of the workspace venv"
    )
    parser.add_argument(
        "--tricks", action="store_true", help="also time each start-up trick turned off"
    )
    parser.add_argument("configs", nargs="*")
    args = parser.parse_args()
    configs = args.configs or example_configs()
    script = Path(args.python).parent / "noether-config"
    validate = [str(script)] if script.exists() else [args.python, "-m", "noether.config.cli"]
    validate.append("validate")
    validate += configs
    baseline = [args.python, "-c", "import pydantic, yaml, typer"]
    floor = [args.python, "-c", FLOOR]
    runs = variants(args.python, args.tricks)
    with tempfile.TemporaryDirectory(prefix="noether-bench-pycache-") as cache:
        env = bench_environment(cache)
        env.pop("NOETHER_CONFIG_STARTUP", None)
        envs = {
            name: {**env, "NOETHER_CONFIG_STARTUP": value or ""} for name, value in runs.items()
        }
        envs["imports"] = envs["floor"] = env
        commands = {name: validate for name in runs} | {"imports": baseline, "floor": floor}
        status = subprocess.run(validate, capture_output=True, text=True, env=env)
        print(f"configs: {len(configs)} ({'valid' if status.returncode == 0 else 'INVALID'})")
        if status.returncode != 0:
            print(status.stdout + status.stderr, file=sys.stderr)
        for name, command in commands.items():  # warm caches
            run_once(command, envs[name])
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                seconds, cpu_seconds = run_once(command, envs[name])
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    medians = {name: statistics.median(values) for name, values in wall.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    for name, value in medians.items():
        print(
            f"{name}: median {value * 1000:.1f} ms wall, {cpu_medians[name] * 1000:.1f} ms CPU "
            f"over {args.repeats} runs"
        )
    if args.tricks:
        for name in runs:
            if name != "validate":
                gain_cpu = (cpu_medians[name] - cpu_medians["validate"]) * 1000
                gain_wall = (medians[name] - medians["validate"]) * 1000
                print(
                    f"gain of {name.removeprefix('without ')} tricks"
                    if name == "plain"
                    else f"gain of trick {name.removeprefix('without ')}",
                    f": {gain_wall:+.1f} ms wall, {gain_cpu:+.1f} ms CPU",
                    sep="",
                )
        print(
            f"plain_cpu_ratio={cpu_medians['plain'] / cpu_medians['imports']:.2f} "
            f"plain_ratio={medians['plain'] / medians['imports']:.2f}"
        )
    print(
        f"floor_cpu_ratio={cpu_medians['floor'] / cpu_medians['imports']:.2f} "
        f"floor_ratio={medians['floor'] / medians['imports']:.2f}"
    )
    print(f"cpu_ratio={cpu_medians['validate'] / cpu_medians['imports']:.2f}")
    print(f"ratio={medians['validate'] / medians['imports']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
