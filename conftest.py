"""Set-up shared by every package's tests and the cross-package tests."""

from __future__ import annotations

import signal

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Gives Ctrl-C its default meaning back when the tests were started with it ignored.

    A shell that starts a command in the background without job control (`cmd &` in a
    script) makes it ignore SIGINT, and every process it starts inherits that: the tests of
    Ctrl-C handling, in this process and in the `noether-train` processes they start, need
    Python's default handler, which a process only installs where SIGINT is not ignored.
    """
    del config
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
