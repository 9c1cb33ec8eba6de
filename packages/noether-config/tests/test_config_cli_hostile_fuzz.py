"""Property-based: hostile YAML never gets `noether-config validate` past its bounds.

Hypothesis writes experiment files from hostile pieces (anchors and aliases, merge keys, deep
nesting, long strings, odd tags, huge numbers, includes and bases with relative, absolute and
symlinked paths out of the root, `${...}` chains, bombs and environment-looking references)
into a project folder and validates them with the real CLI in a subprocess under a time and
an address-space limit. An audit hook in that process stops it if it opens anything outside
the project. Every run must end in a report (exit 0 or 1) without a traceback, within the CPU
and memory bounds, quoting no secret, no environment value and no long value.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SECRET = "NOETHER-FUZZ-SECRET-3b9e"
ENV_MARKER = "NOETHER-FUZZ-ENV-c41d"
LONG_UNIT = "Qz"
"""Long strings repeat it; 40 of them in a row in a report would be a quoted long value."""
MEMORY_ABOVE_INTERPRETER_MB = 100
CPU_ABOVE_HONEST_S = 1.5

AUDITED_CLI = r"""
import json, os, sys

forbidden = json.loads(sys.argv.pop(1))


def refuse_outside(event, args):
    if event != "open" or not args or not isinstance(args[0], (str, bytes)):
        return
    path = os.path.realpath(os.fsdecode(args[0]))
    if any(path == f or path.startswith(f.rstrip("/") + "/") for f in forbidden):
        os.write(2, ("READ OUTSIDE THE ROOT: " + path + "\n").encode())
        os._exit(97)


sys.addaudithook(refuse_outside)
sys.argv[0] = "noether-config"
from noether.config.cli import main

main()
"""
"""`noether-config` (its entry point, in this process) that exits 97 on opening a path under
one of the forbidden ones."""

OUT_OF_ROOT_INCLUDES = [
    "../outside/secret.yaml",
    "{outside}/secret.yaml",
    "/etc/passwd",
    "../../../../etc/hostname",
    "/proc/self/environ",
    "/dev/zero",
    "escape.yaml",  # a symlink to outside/secret.yaml
    "escape_dir/secret.yaml",  # through a symlinked folder
    "../outside/pipe.yaml",  # a FIFO: opening it would block
    "sub/../../outside/secret.yaml",
]
IN_ROOT_INCLUDES = ["frag.yaml", "exp.yaml", "notes.txt", "missing.yaml", "sub", ""]
ODD_TAGS = [
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/name:os.system",
    "!<tag:yaml.org,2002:python/object:os.system> x",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1, b: 2]",
    "!!timestamp 2001-12-14t21:59:43.10-05:00",
    "!!float .nan",
    "!!int 0x" + "f" * 150,
    "!!str 12",
    "!custom thing",
    "!include",
    "!include [a, b]",
    "!!null ''",
]
ENV_REFERENCES = [
    "${NOETHER_FUZZ_ENV}",
    "${env:NOETHER_FUZZ_ENV}",
    "${oc.env:NOETHER_FUZZ_ENV}",
    "$NOETHER_FUZZ_ENV",
    "${vars.NOETHER_FUZZ_ENV}",
]

RunBounded = Callable[..., Any]
"""The `run_bounded` fixture of conftest.py."""

keys = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


LEAVES = [
    "{kind: checkpoint, every_n_epochs: 1}",
    "{kind: no_such_kind}",
    "{kind: 'os:system'}",
    "{kind: checkpoint, every_n_epochs: x, bogus: 1}",
    "'" + LONG_UNIT * 500 + "'",
]


@st.composite
def alias_bomb(draw: st.DrawFn, key: str) -> str:
    levels, width = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    merge = draw(st.booleans())
    leaf = draw(st.sampled_from(LEAVES))
    lines = [f"{key}0: &{key}0 " + ("{x0: 0}" if merge else leaf)]
    for n in range(1, levels + 1):
        aliases = ", ".join([f"*{key}{n - 1}"] * width)
        body = f"{{<<: [{aliases}], x{n}: {n}}}" if merge else f"[{aliases}]"
        lines.append(f"{key}{n}: &{key}{n} {body}")
    if draw(st.booleans()):  # validated as callbacks, not only parsed
        level = draw(st.integers(0, levels))
        lines.append(f"trainer: {{kind: weighted_loss, callbacks: [*{key}{level}, *{key}{level}]}}")
    return "\n".join(lines)


@st.composite
def interpolation_bomb(draw: st.DrawFn, key: str) -> str:
    levels, width = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    copies = draw(st.booleans())  # whole-value references copy mappings and lists
    lines = [
        f"{key}0: "
        + ("{a: 1, b: [1, 2]}" if copies else "'" + "x" * draw(st.integers(1, 50)) + "'")
    ]
    for n in range(1, levels + 1):
        ref = f"${{{key}{n - 1}}}"
        lines.append(
            f"{key}{n}: "
            + ("[" + ", ".join([f"'{ref}'"] * width) + "]" if copies else "'" + ref * width + "'")
        )
    return "\n".join(lines)


@st.composite
def reference_chain(draw: st.DrawFn, key: str) -> str:
    length = draw(st.integers(1, 300))
    lines = [f"{key}{n}: ${{{key}{n + 1}}}" for n in range(length)]
    end = draw(st.sampled_from([f"${{{key}0}}", "end", "[1, 2]", f"${{{key}{length - 1}.x}}"]))
    return "\n".join([*lines, f"{key}{length}: {end}"])


@st.composite
def deep_nesting(draw: st.DrawFn, key: str) -> str:
    depth = draw(st.integers(1, 3_000))
    if draw(st.booleans()):
        return f"{key}: " + "[" * depth + "]" * depth
    depth = min(depth, 300)
    return f"{key}:\n" + "".join("  " * (level + 1) + f"k{level}:\n" for level in range(depth))


@st.composite
def long_string(draw: st.DrawFn, key: str) -> str:
    length = draw(st.sampled_from([10, 1_000, 60_000, 600_000, 1_200_000]))
    value = LONG_UNIT * (length // 2)
    return draw(st.sampled_from([f"{key}: {value}", f"{key}: '{value}'", f"? {value}\n: 1"]))


@st.composite
def huge_number(draw: st.DrawFn, key: str) -> str:
    number = draw(
        st.one_of(
            st.integers(-(10**80), 10**80).map(str),
            st.tuples(st.sampled_from(["", "-", "+"]), st.integers(1, 9_000)).map(
                lambda sign_digits: sign_digits[0] + "9" * sign_digits[1]
            ),
            st.integers(1, 30_000).map(lambda n: "1" + ":30" * n),
            st.sampled_from(["1e99999", "-.inf", "0b" + "1" * 9_000, "0o" + "7" * 9_000]),
            st.floats(allow_nan=True).map(repr),
        )
    )
    return f"{key}: {number}"


@st.composite
def include(draw: st.DrawFn, key: str, outside: Path) -> str:
    target = draw(st.sampled_from(OUT_OF_ROOT_INCLUDES + IN_ROOT_INCLUDES))
    target = target.format(outside=outside)
    if draw(st.booleans()):
        return f"{key}: !include {target}"
    return f"extends: {json.dumps(target)}"


@st.composite
def odd_value(draw: st.DrawFn, key: str) -> str:
    value = draw(st.sampled_from(ODD_TAGS + ENV_REFERENCES))
    return f"{key}: {value}" if not value.startswith("$") else f"{key}: '{value}'"


junk = st.text(alphabet="[]{}:,-&*!|>'\"#%@ \n\tab1${}.<", max_size=80).map(lambda t: f"junk: {t}")


PIECES = [alias_bomb, interpolation_bomb, reference_chain, deep_nesting, long_string]
PIECES += [huge_number, odd_value]


@st.composite
def document(draw: st.DrawFn, outside: Path) -> str:
    """An experiment file of 1-4 hostile pieces, each under its own key."""
    pieces = []
    for index in range(draw(st.integers(1, 4))):
        key = f"{draw(keys)}{index}"
        kind = draw(st.integers(0, len(PIECES) + 1))
        if kind < len(PIECES):
            pieces.append(draw(PIECES[kind](key)))
        elif kind == len(PIECES):
            pieces.append(draw(include(key, outside)))
        else:
            pieces.append(draw(junk))
    return "name: fuzz\n" + "\n".join(pieces) + "\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project folder to validate in, outside folder next to it that must not be read)."""
    base = tmp_path_factory.mktemp("hostile")
    outside, project = base / "outside", base / "project"
    outside.mkdir()
    (project / "sub").mkdir(parents=True)
    (outside / "secret.yaml").write_text(f"token: {SECRET}\n")
    os.mkfifo(outside / "pipe.yaml")
    (project / "escape.yaml").symlink_to(outside / "secret.yaml")
    (project / "escape_dir").symlink_to(outside, target_is_directory=True)
    (project / "notes.txt").write_text(f"{SECRET}\n")
    return project, outside


@pytest.fixture(scope="module")
def honest_cpu_s(project: tuple[Path, Path], run_bounded: RunBounded) -> float:
    folder, _ = project
    (folder / "honest.yaml").write_text("name: honest\ntrainer: {kind: weighted_loss}\n")
    return run_bounded(
        [sys.executable, "-c", AUDITED_CLI, "[]", "validate", str(folder / "honest.yaml")]
    ).cpu_s


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_configs_end_in_bounded_reports(
    data: st.DataObject,
    project: tuple[Path, Path],
    run_bounded: RunBounded,
    interpreter_peak_mb: float,
    honest_cpu_s: float,
) -> None:
    folder, outside = project
    (folder / "exp.yaml").write_text(data.draw(document(outside), label="exp.yaml"))
    (folder / "frag.yaml").write_text(data.draw(document(outside), label="frag.yaml"))
    forbidden = [
        os.path.realpath(outside),
        "/etc/passwd",
        "/etc/hostname",
        "/proc/self/environ",
        "/dev/zero",
    ]
    result = run_bounded(
        [
            sys.executable,
            "-c",
            AUDITED_CLI,
            json.dumps(forbidden),
            "validate",
            str(folder / "exp.yaml"),
        ],
        seconds=30,
        memory_mb=1024,
        env={**os.environ, "NOETHER_FUZZ_ENV": ENV_MARKER},
    )
    report = result.output
    assert result.code in (0, 1), result
    assert "Traceback" not in report and "internal error" not in report, report
    assert "unexpected error" not in report and "nests too deeply" not in report, report
    assert result.peak_mb < interpreter_peak_mb + MEMORY_ABOVE_INTERPRETER_MB, result
    assert result.cpu_s < honest_cpu_s + CPU_ABOVE_HONEST_S, result
    assert SECRET not in report and ENV_MARKER not in report
    assert LONG_UNIT * 40 not in report
    for line in report.splitlines():
        assert (
            line.startswith((str(folder), "ok: ", "invalid: ")) or " file(s) checked: " in line
        ), line
