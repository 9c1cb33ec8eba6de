"""Stop signals before training: one that arrives where an exception is lost (a finalizer,
or torch's C start-up importing numpy) still stops the run."""

from __future__ import annotations

import gc
import os
import signal

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
