"""Stop signals before training: one that arrives where an exception is lost (a finalizer,
or torch's C start-up importing numpy) still stops the run."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import time

import pytest

from noether.core.run_signals import (
    StoppedBeforeTraining,
    raise_if_stopped_before,
    say_before_dying,
    stop_signals_around_training,
    stop_signals_deferred,
)


class _SignalsWhileFinalized:
    """Sends `sig` to this process from `__del__`, where Python prints and drops whatever a
    handler raises, as torch's C start-up drops it inside its import of numpy."""

    def __init__(self, sig: signal.Signals) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)


def _finalize_signalling(sig: signal.Signals) -> None:
    _SignalsWhileFinalized(sig)  # dropped at once: __del__ runs here
    gc.collect()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_sigterm_whose_exception_is_lost_is_raised_again_by_raise_if_stopped_before() -> None:
    with stop_signals_around_training():
        _finalize_signalling(signal.SIGTERM)  # no exception gets out
        with pytest.raises(StoppedBeforeTraining, match="SIGTERM before training began"):
            raise_if_stopped_before()


def test_a_sigterm_in_the_deferred_block_stops_the_run_when_the_block_ends() -> None:
    with stop_signals_around_training(), pytest.raises(StoppedBeforeTraining):
        with stop_signals_deferred():
            _finalize_signalling(signal.SIGTERM)
            ran_on = True  # the signal was only noted here
        pytest.fail("the block's end raises")  # pragma: no cover
    assert ran_on


def test_a_ctrl_c_in_the_deferred_block_is_a_keyboard_interrupt_when_the_block_ends() -> None:
    """Without the block, the KeyboardInterrupt raised inside torch's import was dropped, and
    the run trained to its end as if Ctrl-C had not been pressed."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finished = False
    with pytest.raises(KeyboardInterrupt), stop_signals_deferred():
        _finalize_signalling(signal.SIGINT)
        finished = True
    assert finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_deferred_block_without_a_signal_changes_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals_deferred():
        pass
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(("rank", "prefix"), [(None, ""), ("0", ""), ("3", "[rank 3] ")])
def test_last_words_name_the_rank_but_on_rank_0(
    rank: str | None,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    say_before_dying("received SIGINT a third time: exiting now")
    assert (
        capfd.readouterr().err
        == f"{prefix}noether-train: received SIGINT a third time: exiting now\n"
    )


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_ctrl_c_after_training_lets_the_run_close_and_a_second_ends_it(
    interrupted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Without save_on_sigint, Ctrl-C is a KeyboardInterrupt while training; afterwards, one
    that came as the run closed (its tracker, Python's exit hooks) broke that with a
    traceback, or turned a finished run's exit code 0 into 130."""
    from noether.core.signals import catch_stop_signals

    expected = pytest.raises(KeyboardInterrupt) if interrupted else contextlib.nullcontext()
    with stop_signals_around_training():
        with expected, catch_stop_signals(save_on_sigint=False):
            if interrupted:
                raise KeyboardInterrupt  # as Python raises it for a Ctrl-C in training
        handler = signal.getsignal(signal.SIGINT)
        assert handler is not signal.default_int_handler
    if not interrupted:
        assert callable(handler)
        caplog.set_level(logging.WARNING, logger="noether.train")
        handler(signal.SIGINT, None)  # the first: noted, the run goes on closing
        expected = "received SIGINT after training ended: finishing the run's shutdown"
        deadline = time.monotonic() + 10
        while expected not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)  # a handler logs from a thread of its own (`log_from_handler`)
        assert expected in caplog.text
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the block restored it
