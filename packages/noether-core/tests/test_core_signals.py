"""Signals in a real process: the first asks to stop, the second to hurry, the third ends it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from noether.core.signals import catch_stop_signals

    count = int(sys.argv[1])
    with catch_stop_signals(save_on_sigint=False) as request:
        for _ in range(count):
            os.kill(os.getpid(), signal.SIGTERM)
        print(request.requested, request.hurry, request.signal_name, flush=True)
    print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    """
)


def _run(count: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(count)], capture_output=True, text=True, timeout=60
    )


def test_first_signal_requests_a_stop_second_asks_to_hurry() -> None:
    assert _run(1).stdout.split() == ["True", "False", "SIGTERM", "True"]
    assert _run(2).stdout.split() == ["True", "True", "SIGTERM", "True"]


def test_a_third_signal_ends_the_process_as_the_signal_would() -> None:
    result = _run(3)
    assert result.returncode == -signal.SIGTERM
    assert result.stdout == ""
    assert "third time" in result.stderr


def test_sigint_is_left_alone_without_save_on_sigint() -> None:
    script = SCRIPT.replace("signal.SIGTERM)", "signal.SIGINT)", 1)
    result = subprocess.run(
        [sys.executable, "-c", script, "1"], capture_output=True, text=True, timeout=60
    )
    assert "KeyboardInterrupt" in result.stderr
