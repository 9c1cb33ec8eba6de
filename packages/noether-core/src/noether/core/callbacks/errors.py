"""The error of a callback whose config does not fit the run it is in."""

from __future__ import annotations

from noether.core.build import ConfigKeyError


class CallbackConfigError(ConfigKeyError, ValueError):
    """A callback's config names what the run does not have (an output key, a metric).

    A mistake in the experiment file, found only once training runs: the dispatcher logs no
    traceback for it and `noether-train` reports its message, exit 1, at the file and line of
    `key_path` (`CallbackBase.config_key_path`). Raise it with a message that names the
    callback and what exists.
    """
