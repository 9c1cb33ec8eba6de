"""Signals in a real process: the first asks to stop; a second ends it, unless it repeats the
first at once (then it asks to hurry, and a third ends it)."""

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


def test_a_second_signal_after_the_repeat_window_ends_the_process() -> None:
    script = SCRIPT.replace(
        "os.kill(os.getpid(), signal.SIGTERM)",
        "os.kill(os.getpid(), signal.SIGTERM); time.sleep(REPEAT_WINDOW_S + 0.2)",
    ).replace(
        "from noether.core.signals import catch_stop_signals",
        "import time\nfrom noether.core.signals import REPEAT_WINDOW_S, catch_stop_signals",
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "2"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGTERM
    assert result.stdout == ""
    assert "received SIGTERM a second time: exiting now" in result.stderr


MID_WRITE = textwrap.dedent(
    """
    import io, logging, os, signal, sys
    from noether.core.signals import catch_stop_signals

    class SignalInsideWrite(io.RawIOBase):
        # stderr's file, where the signal lands while the buffered stream writes to it
        armed = True
        def writable(self):
            return True
        def write(self, data):
            if self.armed:
                self.armed = False
                os.kill(os.getpid(), signal.SIGTERM)  # its handler runs here
            os.write(2, bytes(data))
            return len(data)

    stream = io.TextIOWrapper(io.BufferedWriter(SignalInsideWrite()), write_through=True)
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(message)s")
    with catch_stop_signals(save_on_sigint=False) as request:
        logging.getLogger("train").info("update 7 of 10")
    print(request.requested)
    """
)


def test_a_signal_during_a_log_write_is_logged_without_a_traceback() -> None:
    """The handler's own log line went to the stream it interrupted: "reentrant call inside
    BufferedWriter", printed as a logging error with a traceback (seen in CI on SIGTERM)."""
    result = subprocess.run(
        [sys.executable, "-c", MID_WRITE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    assert "update 7 of 10" in result.stderr
    assert "received SIGTERM: stopping after this update" in result.stderr


def test_a_launchers_sigterm_after_the_users_sigint_is_named_as_such() -> None:
    """torchrun under `uv run` gets Ctrl-C twice and sends SIGTERM to ranks that already
    stop for SIGINT: that is no 'SIGTERM again'."""
    script = SCRIPT.replace("save_on_sigint=False", "save_on_sigint=True").replace(
        "for _ in range(count):\n        os.kill(os.getpid(), signal.SIGTERM)",
        "os.kill(os.getpid(), signal.SIGINT)\n    os.kill(os.getpid(), signal.SIGTERM)",
    )
    assert "signal.SIGINT)" in script
    result = subprocess.run(
        [sys.executable, "-c", script, "2"], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["True", "True", "SIGINT", "True"], result.stderr
    assert "received SIGTERM after SIGINT: exiting once the checkpoint is written" in result.stderr
    assert "SIGTERM again" not in result.stderr
