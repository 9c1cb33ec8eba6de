"""Which positional command-line words are overrides (both CLIs read them the same way)."""

from __future__ import annotations

import pytest

from noether.config.cli_words import is_override, split_overrides


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
