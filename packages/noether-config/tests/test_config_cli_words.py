"""Which positional command-line words are overrides (both CLIs read them the same way)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from noether.config.cli_words import is_override, split_overrides

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "word",
    [
        "seed=1",
        "trainer.max_epochs=3",
        "trainer.callbacks.0.every_n_epochs=2",
        "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1}]",
        "datasets.train-set.size=4",
        "name=",
        "x=a=b",
    ],
)
def test_key_path_then_equals_is_an_override(word: str) -> None:
    assert is_override(word)


@pytest.mark.parametrize(
    "word",
    [
        "config.yaml",
        "configs/",
        "runs/a=b.yaml",  # a path holding "="
        "./seed=1.yaml",
        "*.yaml",
        "=1",
        "1seed=2",
        "trainer..max_epochs=3",
        "my key=1",  # keys with spaces need -o
    ],
)
def test_paths_and_other_words_are_not_overrides(word: str) -> None:
    assert not is_override(word)


def test_split_keeps_the_order_of_each_kind() -> None:
    words = ["a.yaml", "seed=1", "b/", "trainer.max_epochs=2", "seed=3"]
    assert split_overrides(words) == (
        ["a.yaml", "b/"],
        ["seed=1", "trainer.max_epochs=2", "seed=3"],
    )


def test_an_existing_file_named_like_an_override_is_a_path(
    project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, valid_yaml: str
) -> None:
    """A pre-commit hook passes files at the repository's top as `lr=0.1.yaml`: read as an
    override, the file went unchecked and `lr` was set in every other file."""
    folder = project(**{"lr=0.1.yaml": valid_yaml, "config.yaml": valid_yaml})
    monkeypatch.chdir(folder)
    assert not is_override("lr=0.1.yaml")
    assert is_override("lr=0.2.yaml")
    done = subprocess.run(
        [
            str(BIN / "noether-config"),
            "validate",
            "--experiments-only",
            "lr=0.1.yaml",
            "config.yaml",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: lr=0.1.yaml" in done.stdout and "ok: config.yaml" in done.stdout


@pytest.mark.parametrize(
    ("word", "hinted"),
    [
        ("trainer.max_epochs", True),  # the "=value" forgotten
        ("=1", True),  # the key forgotten
        ("configs/missing.yaml", False),
        ("missing.yaml", False),
        ("missing", False),
    ],
)
def test_a_missing_path_meant_as_an_override_says_how_overrides_are_written(
    project: Callable[..., Path], valid_yaml: str, word: str, hinted: bool
) -> None:
    folder = project(**{"config.yaml": valid_yaml})
    done = subprocess.run(
        [str(BIN / "noether-config"), "validate", "config.yaml", word],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"no such file or folder: {word!r}" in done.stderr
    assert ("(an override is written key.path=value)" in done.stderr) is hinted
    assert "Traceback" not in done.stderr
