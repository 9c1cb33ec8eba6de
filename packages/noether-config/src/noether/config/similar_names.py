"""Names ranked by similarity to a name that is not one of them: the one ranking behind
"known kinds: ..." and "did you mean ...?" in every error message."""

from __future__ import annotations

import functools
from collections.abc import Iterable


def closest_first(
    name: str, candidates: Iterable[str], *, cutoff: float = 0.0, limit: int | None = None
) -> list[str]:
    """`candidates` by similarity to `name` (difflib's ratio; ties alphabetically), at least
    `cutoff` similar, at most `limit`: the one ranking of "known kinds" and "did you mean"."""
    return [n for n, ratio in _ranked(name, tuple(candidates)) if ratio >= cutoff][:limit]


@functools.lru_cache(maxsize=256)
def _ranked(name: str, candidates: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """Cached: a config may repeat one unknown kind thousands of times (YAML aliases)."""
    import difflib  # only error messages need it

    # A name several times longer than every candidate is a typo of none of them, and ratio()
    # searches it in time that grows with its length: its head ranks them just as well.
    head = name[: 4 * max(map(len, candidates), default=0) + 8]
    ratios = {n: difflib.SequenceMatcher(None, head, n).ratio() for n in candidates}
    return tuple(sorted(ratios.items(), key=lambda item: (-item[1], item[0])))
