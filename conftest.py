"""Set-up shared by every package's tests and the cross-package tests."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

NOBODY = 65534
"""The uid and gid that tests of file permissions run commands as when they run as root."""


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


@pytest.fixture
def unprivileged() -> list[str]:
    """A command prefix under which permissions apply (root reads any file): `setpriv` to
    nobody when the tests run as root, nothing otherwise; skips when there is no way."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A folder that another user can enter (pytest's tmp_path may not be); removed after,
    whatever permissions the test left on what it made inside."""
    folder = Path(tempfile.mkdtemp(prefix="noether-unusual-"))
    folder.chmod(0o755)
    yield folder
    for current, names, _ in os.walk(folder):
        for name in names:
            os.chmod(os.path.join(current, name), 0o755)
    shutil.rmtree(folder)
