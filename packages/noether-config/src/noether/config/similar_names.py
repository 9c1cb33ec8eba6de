"""Names ranked by similarity to a name that is not one of them: the one ranking behind
"known kinds: ..." and "did you mean ...?" in every error message."""

from __future__ import annotations

import functools
from collections.abc import Iterable


def closest_first(
    name: str, candidates: Iterable[str], *, cutoff: float = 0.0, limit: int | None = None
) -> list[str]:
    """`candidates` by similarity to `name`, at least `cutoff` similar, at most `limit`: the
    one ranking of "known kinds" and "did you mean".

    Names are compared as words: case and `-` / space against `_` do not count (`AdamW` is
    `adamw`), and a candidate holding every word of `name` ranks first (`cosine` and
    `warmup_cosine` mean `linear_warmup_cosine_decay`, not `constant`); then difflib's ratio
    of the normalised names, which `cutoff` applies to; ties alphabetically."""
    return [n for n, ratio in _ranked(name, tuple(candidates)) if ratio >= cutoff][:limit]


def module_names_hint(name: str, names: Iterable[str]) -> str:
    """ "; did you mean A, B?" with the public names of a module closest to `name` (a
    misspelt class of a dotted kind), else ""."""
    public = (n for n in names if not n.startswith("_"))
    close = closest_first(name, public, cutoff=0.6, limit=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _normal(name: str) -> str:
    return name.casefold().replace("-", "_").replace(" ", "_")


@functools.lru_cache(maxsize=256)
def _ranked(name: str, candidates: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """Cached: a config may repeat one unknown kind thousands of times (YAML aliases)."""
    import difflib  # only error messages need it

    # A name several times longer than every candidate is a typo of none of them, and ratio()
    # searches it in time that grows with its length: its head ranks them just as well.
    head = _normal(name[: 4 * max(map(len, candidates), default=0) + 8])
    words = {word for word in head.split("_") if word}
    ratios = {n: difflib.SequenceMatcher(None, head, _normal(n)).ratio() for n in candidates}
    holds_all = {n: bool(words) and words <= set(_normal(n).split("_")) for n in candidates}
    ranked = sorted(ratios.items(), key=lambda item: (not holds_all[item[0]], -item[1], item[0]))
    return tuple(ranked)
