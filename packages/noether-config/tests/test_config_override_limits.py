"""Command-line overrides are bounded like files: a sweep tool's or a CI job's `-o` value that
expands (aliases) or nests without end ends in an error naming the override, in bounded memory,
from `noether-config validate` and from `load_config` (what `noether-train` calls)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from noether.config import ConfigError, load_config

RunBounded = Callable[..., Any]


def alias_bomb_value() -> str:
    """A flow mapping of ten levels of nine aliases: 9^10 strings once expanded."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 10)]
    return "{" + ", ".join(levels) + "}"


def test_alias_bomb_in_an_override_ends_in_an_error_in_bounded_memory(
    tmp_path: Path, run_bounded: RunBounded, noether_config: list[str], interpreter_peak_mb: float
) -> None:
    (tmp_path / "exp.yaml").write_text("name: x\n")

    result = run_bounded(
        [
            *noether_config,
            "validate",
            str(tmp_path / "exp.yaml"),
            "-o",
            f"vars={alias_bomb_value()}",
        ],
        seconds=20,
        memory_mb=1024,
    )
    assert result.code == 1, result
    assert "Traceback" not in result.output and "MemoryError" not in result.output, result
    assert "exp.yaml:1: vars: bad override 'vars={a0: &a0" in result.output
    assert "the config expands to more than 50,000 nodes (limit max_nodes)" in result.output
    assert result.peak_mb < interpreter_peak_mb + 100, result


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (".".join(["a"] * 5000) + "=1", "the key path is nested more than 64 levels deep"),
        ("seed=" + "[" * 5000 + "]" * 5000, "nested more than 64 levels deep (limit max_depth)"),
    ],
    ids=["deep-key-path", "deep-value"],
)
def test_deep_overrides_are_config_errors(tmp_path: Path, override: str, message: str) -> None:
    (tmp_path / "exp.yaml").write_text("name: x\n")
    limit = sys.getrecursionlimit()

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "exp.yaml", overrides=[override])
    issue = caught.value.issues[0]
    assert issue.file.endswith("exp.yaml") and issue.line == 1, issue
    assert issue.message.startswith(f"bad override {override[:20]!r}"[:-1]), issue
    assert message in issue.message and len(issue.message) < 600, issue
    assert sys.getrecursionlimit() == limit


def test_ordinary_overrides_with_anchors_still_apply(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("name: x\n")

    with pytest.raises(ConfigError) as caught:
        load_config(
            tmp_path / "exp.yaml",
            overrides=["vars={a: &x [1, 2], b: *x}", "seed=" + "9" * 9, "name=y"],
        )
    assert [issue.key for issue in caught.value.issues] == ["model", "trainer"], caught.value


@pytest.mark.parametrize(
    "override", ["name=a\x01b", "output_path=/data/caf\udcff"], ids=["control", "not-utf8"]
)
def test_override_with_characters_yaml_refuses_is_a_config_error(
    tmp_path: Path, noether_config: list[str], override: str
) -> None:
    """A control character, or a byte that is no UTF-8 (as the shell passes a legacy path),
    is named in the override's error, not raised from inside the YAML reader."""
    (tmp_path / "exp.yaml").write_text("name: x\n")
    arguments = [*noether_config, "validate", str(tmp_path / "exp.yaml"), override]
    done = subprocess.run(
        [os.fsencode(word) for word in arguments], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr + done.stdout, done
    key = override.partition("=")[0]
    assert f"exp.yaml:1: {key}: bad override" in done.stdout, done
    assert "value is not valid YAML (unacceptable character" in done.stdout, done
