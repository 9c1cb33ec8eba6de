"""Command-line words that both CLIs share: which positional word is an override.

`noether-config validate FILE key=value` and `noether-train FILE key=value` read positional
words the same way, and both also take `-o key=value`: a word is an override when the text
before its first `=` is a key path, so a path that holds `=` (`runs/a=b.yaml`) stays a path;
so does the name of a file or folder that exists (`lr=0.1.yaml`, as a pre-commit hook passes a
file at the repository's top).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

_KEY_PATH = re.compile(r"[^\W\d][\w-]*(?:\.[\w-]+)*")


def is_override(word: str) -> bool:
    """Whether `word` is `key.path=value`: letters, digits, `_` and `-`, dotted, before `=`,
    and no file or folder of that name exists.

    Keys with other characters (spaces, slashes) can still be set with `-o`.
    """
    key, equals, _ = word.partition("=")
    return bool(equals) and _KEY_PATH.fullmatch(key) is not None and not os.path.lexists(word)


def looks_like_override(word: str) -> bool:
    """Whether a word that names no file was meant as an override: a dotted key path without
    `=` (`trainer.max_epochs`), or `=value` without its key; said in the error about it."""
    key, equals, _ = word.partition("=")
    if equals:
        return not key
    return (
        "." in word
        and _KEY_PATH.fullmatch(word) is not None
        and not word.endswith((".yaml", ".yml"))
    )


def split_overrides(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """(other words, overrides) of positional words, each list in command-line order."""
    others: list[str] = []
    overrides: list[str] = []
    for word in words:
        (overrides if is_override(word) else others).append(word)
    return others, overrides
