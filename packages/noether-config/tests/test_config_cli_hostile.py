"""Hostile files from pull requests: `noether-config validate` (the installed script, in a
subprocess with a time and an address-space limit) ends each in a clear error, quickly, in
bounded memory, and without reading or echoing files outside the config's root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MEMORY_ABOVE_INTERPRETER_MB = 100
"""Peak resident memory a validation may use above a bare interpreter's."""
CPU_ABOVE_HONEST_S = 1.0
"""CPU time a hostile file may cost above an honest one (steadier than wall time on a loaded
machine; the speed target itself is tools/bench/validate_latency.py's)."""

RunBounded = Callable[..., Any]
"""The `run_bounded` fixture of conftest.py."""
Validate = Callable[..., str]

HONEST = "name: honest\nseed: 0\ntrainer: {kind: weighted_loss, max_epochs: 1}\n"


def alias_bomb() -> str:
    """Nine levels of anchors, each a list of nine aliases of the one before."""
    lines = ["cb: &cb {kind: checkpoint, every_n_epochs: 1}"]
    previous = "cb"
    for name in "abcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\nname: bomb\ntrainer:\n  kind: weighted_loss\n  callbacks: *h\n"


def interpolation_bomb() -> str:
    """Eight levels of `v{n}: "${v{n-1}}" x 10`: a string of 10^9 characters."""
    lines = ['v0: "0123456789"']
    lines += [f'v{n}: "' + f"${{v{n - 1}}}" * 10 + '"' for n in range(1, 9)]
    return "\n".join(lines) + "\nname: bomb\n"


@pytest.fixture(scope="module")
def honest_cpu_s(
    tmp_path_factory: pytest.TempPathFactory, run_bounded: RunBounded, noether_config: list[str]
) -> float:
    path = tmp_path_factory.mktemp("honest") / "honest.yaml"
    path.write_text(HONEST)
    return run_bounded([*noether_config, "validate", str(path)]).cpu_s


@pytest.fixture
def validate(
    run_bounded: RunBounded,
    noether_config: list[str],
    interpreter_peak_mb: float,
    honest_cpu_s: float,
) -> Validate:
    """Validates files in a bounded subprocess; checks the bounds; returns the report."""

    def run(*args: str) -> str:
        result = run_bounded([*noether_config, "validate", *args], seconds=30, memory_mb=1024)
        assert result.code == 1, result.output
        assert "Traceback" not in result.output and "unexpected error" not in result.output
        assert result.peak_mb < interpreter_peak_mb + MEMORY_ABOVE_INTERPRETER_MB, result
        assert result.cpu_s < honest_cpu_s + CPU_ABOVE_HONEST_S, result
        return result.output

    return run


def test_alias_bomb_ends_in_an_error_naming_the_alias(tmp_path: Path, validate: Validate) -> None:
    path = tmp_path / "alias_bomb.yaml"
    path.write_text(alias_bomb())
    output = validate(str(path))
    assert (
        f"{path}:6: e.0: alias *d: the config expands to more than 50,000 nodes (limit max_nodes)"
    ) in output


def test_interpolation_bomb_ends_in_an_error_at_the_first_oversized_string(
    tmp_path: Path, validate: Validate
) -> None:
    path = tmp_path / "interpolation_bomb.yaml"
    path.write_text(interpolation_bomb())
    output = validate(str(path))
    too_long = "the interpolated string is longer than 100,000 characters (limit max_string_chars)"
    assert f"{path}:6: v5: {too_long}" in output
    assert "0123456789" * 7 not in output  # values are quoted as short excerpts at most


def test_includes_of_system_files_are_refused_unread(tmp_path: Path, validate: Validate) -> None:
    up = "../" * (len(Path(os.path.realpath(tmp_path)).parts) + 1)  # reaches / from tmp_path
    path = tmp_path / "includes.yaml"
    path.write_text(
        "name: x\n"
        "trainer: !include /etc/passwd\n"
        "model: !include ../../../../etc/hostname\n"
        f"tracker: !include {up}etc/hostname\n"
    )
    output = validate(str(path))
    for line, include in [
        (2, "/etc/passwd"),
        (3, "../../../../etc/hostname"),
        (4, f"{up}etc/hostname"),
    ]:
        key = ["trainer", "model", "tracker"][line - 2]
        assert f"{path}:{line}: {key}: !include '{include}' is outside the config root" in output
    for secret_file in ("/etc/passwd", "/etc/hostname"):
        if os.path.exists(secret_file):
            first = Path(secret_file).read_text(errors="replace").strip().splitlines()[:1]
            assert not first or first[0] not in output


def test_symlink_out_of_the_root_is_refused_and_not_opened(
    tmp_path: Path, validate: Validate
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("token: NOETHER-TEST-SECRET-51c0\n")
    os.mkfifo(outside / "pipe.yaml")  # opening it would block until the time limit
    project = tmp_path / "project"
    project.mkdir()
    (project / "_secret.yaml").symlink_to(outside / "secret.yaml")
    (project / "_pipe.yaml").symlink_to(outside / "pipe.yaml")
    path = project / "exp.yaml"
    path.write_text("name: x\ntrainer: !include _secret.yaml\nmodel: !include _pipe.yaml\n")
    output = validate(str(path))
    assert f"{path}:2: trainer: !include '_secret.yaml' is outside the config root" in output
    assert f"{path}:3: model: !include '_pipe.yaml' is outside the config root" in output
    assert "NOETHER-TEST-SECRET" not in output


def test_very_long_unknown_keys_and_kinds_cost_no_more_than_short_ones(
    tmp_path: Path, validate: Validate
) -> None:
    """Unknown keys and kinds are ranked against the schema's names ("did you mean", "known
    kinds"): one of 600,000 characters by its head, not searched whole for each name. Its
    quoted excerpt in the message costs no memory that grows with its length."""
    long = "Qz" * 300_000  # three of them: just under the 2 MiB limit on a file
    path = tmp_path / "long_names.yaml"
    path.write_text(
        f"name: long\ntrainer:\n  kind: weighted_loss\n  ? {long}\n  : 1\n"
        f"  callbacks:\n    - kind: {long}\n? {long}\n: 1\n"
    )
    output = validate(str(path))
    assert f'{path}:4: trainer."QzQz' in output and "unknown key (not allowed here)" in output
    assert f"{path}:7: trainer.callbacks.0.kind: unknown CallbackConfig kind 'QzQz" in output
    assert f'{path}:8: "QzQz' in output
    assert long[:200] not in output
