"""Bounds on what loading one config may cost, so that a hostile file ends in an error, not a hang.

`noether-config validate` runs in CI on files from pull requests. YAML aliases, `<<` merges,
includes and `${...}` references can each make a small file expand exponentially; every such
expansion is charged to one `Budget` per config as it happens, and the first charge past a
limit stops loading with a message that names the limit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoaderLimits:
    """What one config (with all its bases and includes) may expand to; defaults fit any honest
    config many times over and keep validation of any file well under a second."""

    max_nodes: int = 50_000
    """Mappings, lists and scalars of the whole config, counted as aliases, `<<` merges,
    includes and whole-value `${...}` copies expand (2,000 callbacks are about 10,000)."""
    max_depth: int = 64
    """Nesting of mappings and lists (includes continue their parent's depth), and the length
    of a chain of `${...}` references."""
    max_bytes: int = 2 * 1024 * 1024
    """YAML text read in total; a file read twice (included twice) counts twice."""
    max_files: int = 1_000
    """Files read: the config, its `extends:` bases and `!include`s, each time one is read."""
    max_string_chars: int = 100_000
    """Length of one string built by inserting `${...}` values into text."""
    max_resolved_chars: int = 1_000_000
    """Characters of all strings built by `${...}` insertion together."""


class LimitExceeded(Exception):
    """Loading was stopped by a limit; the message says which, in words."""


@dataclass
class Budget:
    """What loading one config has used so far, checked against its limits at every charge."""

    limits: LoaderLimits
    nodes: int = 0
    bytes: int = 0
    files: int = 0
    chars: int = 0

    def add_nodes(self, count: int) -> None:
        """Charges expanded nodes.

        Raises:
            LimitExceeded: the config now has more than `max_nodes` nodes.
        """
        self.nodes += count
        if self.nodes > self.limits.max_nodes:
            raise LimitExceeded(self.too_many_nodes())

    def too_many_nodes(self) -> str:
        """The message of a config past `max_nodes`."""
        return f"the config expands to more than {self.limits.max_nodes:,} nodes (limit max_nodes)"

    def add_file(self, size: int) -> None:
        """Charges one file of `size` bytes, before it is read.

        Raises:
            LimitExceeded: more than `max_files` files or `max_bytes` bytes in all.
        """
        if self.files + 1 > self.limits.max_files:
            raise LimitExceeded(
                f"the config reads more than {self.limits.max_files:,} files in all "
                "(limit max_files)"
            )
        if self.bytes + size > self.limits.max_bytes:
            raise LimitExceeded(
                f"the config's YAML text is more than {self.limits.max_bytes:,} bytes in all "
                "(limit max_bytes)"
            )
        self.files += 1
        self.bytes += size

    def add_string(self, length: int) -> None:
        """Charges one string built by interpolation (its own length is bounded as it is built).

        Raises:
            LimitExceeded: all such strings together are longer than `max_resolved_chars`.
        """
        self.chars += length
        if self.chars > self.limits.max_resolved_chars:
            raise LimitExceeded(
                f"interpolated strings are longer than {self.limits.max_resolved_chars:,} "
                "characters in all (limit max_resolved_chars)"
            )
