"""The error of a callback whose config does not fit the run it is in."""

from __future__ import annotations

from noether.core.build import BuildError


class CallbackConfigError(BuildError, ValueError):
    """A callback's config names what the run does not have (an output key, a metric).

    A mistake in the experiment file, found only once training runs: the dispatcher logs no
    traceback for it and `noether-train` reports its message (a BuildError), exit 1. Raise it
    with a message that names the callback and what exists.
    """
