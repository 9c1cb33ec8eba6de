"""Property-based: mutated configs never crash `noether-config validate`.

Valid configs are mutated (wrong types, unknown keys, removed keys, broken YAML, bad
overrides) and run through the CLI in-process; the run must end with exit 0 or 1, print no
traceback, and every error line must name the file, a line number and a key path.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from noether.config.cli import app

BASE: dict[str, Any] = {
    "name": "fuzz",
    "seed": 1,
    "device": "cpu",
    "vars": {"batch": 8},
    "datasets": {
        "train": {"kind": "fuzz_schemas:FuzzDataConfig", "size": 16},
        "val": {"kind": "fuzz_schemas.FuzzDataConfig", "size": 4},
    },
    "model": {
        "kind": "fuzz_schemas:FuzzModelConfig",
        "width": 8,
        "optimizer": {
            "kind": "adamw",
            "lr": 0.001,
            "betas": [0.9, 0.99],
            "schedule": {"kind": "linear_warmup_cosine_decay", "warmup_updates": 2},
        },
    },
    "trainer": {
        "kind": "weighted_loss",
        "max_epochs": 2,
        "effective_batch_size": "${vars.batch}",
        "max_batch_size": 4,
        "forward_properties": ["x"],
        "target_properties": ["p_target"],
        "field_weights": {"p": 1.0},
        "callbacks": [{"kind": "checkpoint", "every_n_epochs": 1}],
        "initializer": {"kind": "checkpoint", "path": "w.pt"},
    },
    "tracker": {"kind": "jsonl"},
}

SCHEMAS = """\
from noether.config import DatasetConfig, ModelConfig


class FuzzDataConfig(DatasetConfig):
    \"\"\"Data.\"\"\"

    size: int = 1
    \"\"\"Samples.\"\"\"


class FuzzModelConfig(ModelConfig):
    \"\"\"Model.\"\"\"

    width: int = 1
    \"\"\"Width.\"\"\"
"""

runner = CliRunner()
SUMMARY = re.compile(r"^\d+ file\(s\) checked: ")
_SEGMENT = r'(?:[A-Za-z0-9_\-<>]+|"(?:[^"\\]|\\.)*")'
KEY_PATH = rf"{_SEGMENT}(?:\.{_SEGMENT})*"
"""A dotted key path; keys with other characters are JSON-quoted by the loader."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz")
    (path / "fuzz_schemas.py").write_text(SCHEMAS)
    return path


def containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every mapping and list in the tree."""
    found = [path] if isinstance(node, dict | list) else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in items:
        found.extend(containers(value, (*path, key)))
    return found


def get(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.integers(), max_size=2),
)
identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(YAML text, overrides) of a mutated valid config."""
    data = copy.deepcopy(BASE)
    overrides: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(["type", "unknown", "remove", "override"]))
        where = get(data, draw(st.sampled_from(containers(data))))
        keys = list(where) if isinstance(where, dict) else list(range(len(where)))
        if mutation == "type" and keys:
            where[draw(st.sampled_from(keys))] = draw(wrong_values)
        elif mutation == "unknown" and isinstance(where, dict):
            where[draw(identifiers)] = draw(wrong_values)
        elif mutation == "remove" and keys:
            del where[draw(st.sampled_from(keys))]
        elif mutation == "override":
            key = draw(st.from_regex(r"[a-z0-9_.]{0,20}", fullmatch=True))
            value = draw(st.text(alphabet="ab1:[]{}-, '\"#=.$", max_size=10))
            overrides.append(draw(st.sampled_from([f"{key}={value}", key, f"={value}"])))
    text = yaml.safe_dump(data, sort_keys=False)
    if draw(st.booleans()):  # break the YAML itself
        position = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(["[", "{", ": :", "\t", "\n  - ", "'", "&a", "*b", "!!x"]))
        text = text[:position] + junk + text[position:]
    return text, overrides


def test_unmutated_config_is_valid(folder: Path) -> None:
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE, sort_keys=False))
    result = runner.invoke(app, ["validate", str(folder / "base.yaml")])
    assert result.exit_code == 0, result.output


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated())
def test_mutated_configs_give_located_errors_never_tracebacks(
    folder: Path, case: tuple[str, list[str]]
) -> None:
    text, overrides = case
    path = folder / "experiment.yaml"
    path.write_text(text)
    args = ["validate", str(path)]
    for override in overrides:
        args += ["-o", override]
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    located = re.compile(re.escape(str(path)) + rf":([1-9]\d*): {KEY_PATH}: \S")
    for line in result.output.splitlines():
        if line.startswith(("ok: ", "invalid: ")) or SUMMARY.match(line):
            continue
        # a note of a valid file (a callback that never runs) is located the same way
        assert located.match(line.removeprefix("note: ")), line
    if result.exit_code == 1:
        assert f"invalid: {path}" in result.output
