"""Paths that are not plain readable files, and bytes that are not YAML text, given to the
installed `noether-config validate` as a user (or a CI job on a pull request) gives them: each
ends in a report that names the file and, where there is one, the line; never a traceback,
never "no such file" for something that is there, and never a green run that skipped files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from noether.config import ConfigError, load_config


def run(command: list[str], cwd: Path, prefix: tuple[str, ...] | list[str] = ()) -> tuple[int, str]:
    """(exit code, stdout + stderr) of a command bounded by a timeout (a FIFO must not hang);
    `prefix` runs it as another user (the `unprivileged` fixture)."""
    done = subprocess.run([*prefix, *command], cwd=cwd, capture_output=True, text=True, timeout=30)
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "unexpected error" not in output, output
    return done.returncode, output


def test_symlink_loop_is_an_unreadable_file(tmp_path: Path, noether_config: list[str]) -> None:
    (tmp_path / "a.yaml").symlink_to("b.yaml")
    (tmp_path / "b.yaml").symlink_to("a.yaml")

    code, output = run([*noether_config, "validate", "a.yaml"], tmp_path)
    assert code == 1, output
    loop = "Too many levels of symbolic links"
    assert f"a.yaml: <root>: cannot read config file 'a.yaml': {loop}" in output
    code, output = run([*noether_config, "validate", "."], tmp_path)
    assert code == 1 and "2 file(s) checked: 0 valid, 2 invalid" in output, output
    with pytest.raises(ConfigError, match="Too many levels of symbolic links"):
        load_config(tmp_path / "a.yaml")


def test_fifo_named_on_the_command_line_is_reported_not_missing(
    tmp_path: Path, noether_config: list[str]
) -> None:
    os.mkfifo(tmp_path / "exp.yaml")

    code, output = run([*noether_config, "validate", "exp.yaml"], tmp_path)
    assert code == 1, output
    assert "exp.yaml: <root>: cannot read config file 'exp.yaml': not a regular file" in output
    assert "no such file" not in output


def test_unreadable_folder_fails_the_run(
    world_readable: Path, unprivileged: list[str], noether_config: list[str]
) -> None:
    (world_readable / "closed").mkdir()
    (world_readable / "closed" / "exp.yaml").write_text("name: x\n")
    (world_readable / "closed").chmod(0)

    code, output = run([*noether_config, "validate", "."], world_readable, unprivileged)
    assert code == 1, output
    assert "./closed: <root>: cannot read folder: Permission denied" in output
    code, output = run(
        [*noether_config, "validate", "closed/exp.yaml"], world_readable, unprivileged
    )
    assert code == 1, output
    assert "cannot read config file 'closed/exp.yaml': Permission denied" in output


def test_bytes_that_are_not_utf8_are_reported_at_their_line(
    tmp_path: Path, noether_config: list[str]
) -> None:
    (tmp_path / "exp.yaml").write_text(
        "name: x\ntrainer:\n  kind: weighted_loss\n  callbacks: !include _callbacks.yaml\n"
    )
    (tmp_path / "_callbacks.yaml").write_bytes(b"- kind: checkpoint\n- {kind: caf\xe9}\n")

    code, output = run([*noether_config, "validate", "exp.yaml"], tmp_path)
    assert code == 1, output
    assert (
        "_callbacks.yaml:2: trainer.callbacks: cannot read file '_callbacks.yaml': not UTF-8 "
        "text: byte 0xe9 at column 13 (invalid continuation byte)"
    ) in output


@pytest.mark.parametrize("size", ["short", "long"])  # pure-Python and libyaml parsers
def test_characters_yaml_forbids_are_reported_at_their_line(
    tmp_path: Path, noether_config: list[str], size: str
) -> None:
    filler = "".join(f"  k{i}: é{i}\n" for i in range(10_000 if size == "long" else 1))
    (tmp_path / "exp.yaml").write_text(f'vars:\n{filler}trainer:\n  kind: "a\x00b"\n')
    line = filler.count("\n") + 3

    code, output = run([*noether_config, "validate", "exp.yaml"], tmp_path)
    assert code == 1, output
    where = f"exp.yaml:{line}: trainer.kind: invalid YAML: character U+0000 at column 11: "
    assert where in output and "characters are not allowed" in output


def test_include_without_a_path_is_reported_at_its_key(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(
        "name: x\ntrainer:\n  callbacks:\n    - !include\n    - !include [a, b]\n"
        "    - {kind: checkpoint, x: !include ''}\n"
    )

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "exp.yaml")
    found = {(issue.line, issue.key) for issue in caught.value.issues}
    expected = {
        (4, "trainer.callbacks.0"),
        (5, "trainer.callbacks.1"),
        (6, "trainer.callbacks.2.x"),
    }
    assert expected <= found, caught.value
    assert not any(issue.key == "<root>" for issue in caught.value.issues), caught.value


def test_experiments_only_does_not_block_on_a_fifo(
    tmp_path: Path, noether_config: list[str]
) -> None:
    (tmp_path / "configs").mkdir()
    os.mkfifo(tmp_path / "configs" / "pipe.yaml")
    (tmp_path / "configs" / "ci.yaml").write_text("on: push\n")

    code, output = run([*noether_config, "validate", "--experiments-only", "configs"], tmp_path)
    assert code == 1, output
    assert "cannot read config file 'configs/pipe.yaml': not a regular file" in output
    assert "1 other YAML file(s) skipped (not experiments)" in output


def test_experiments_only_scans_a_huge_line_in_bounded_memory(
    tmp_path: Path, run_bounded: Any, noether_config: list[str], interpreter_peak_mb: float
) -> None:
    with open(tmp_path / "data.yaml", "wb") as handle:  # one line of 1 GiB (sparse: no disk)
        handle.truncate(1 << 30)

    result = run_bounded(
        [*noether_config, "validate", "--experiments-only", str(tmp_path)],
        seconds=20,
        memory_mb=512,
    )
    assert result.code == 0, result
    assert "1 other YAML file(s) skipped (not experiments)" in result.output
    assert result.peak_mb < interpreter_peak_mb + 100, result


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be-bom", "utf-32"])
def test_utf16_and_utf32_files_with_a_bom_validate_like_utf8(
    tmp_path: Path, noether_config: list[str], codec: str
) -> None:
    """The YAML spec's encodings; Windows PowerShell 5 writes UTF-16 with `>` and Out-File."""
    text = "name: x\ntrainer:\n  kind: weighted_loss\n  callbacks: !include _callbacks.yaml\n"
    fragment = "- {kind: checkpoint, every_n_epochs: -1}\n"
    for name, content in (("exp.yaml", text), ("_callbacks.yaml", fragment)):
        if codec == "utf-16-be-bom":
            data = b"\xfe\xff" + content.encode("utf-16-be")
        else:
            data = content.encode(codec)
        (tmp_path / name).write_bytes(data)

    code, output = run([*noether_config, "validate", "--experiments-only", "."], tmp_path)
    assert code == 1, output
    assert "1 file(s) checked: 0 valid, 1 invalid, 1 fragment(s) skipped" in output
    assert "_callbacks.yaml:1: trainer.callbacks.0.every_n_epochs: Input should be greater" in (
        output
    )
