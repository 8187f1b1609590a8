"""A stop signal swallowed inside the training step (as torch's C extension init does) is raised again at the step's
next checkpoint, through the handler that was in force; nothing else changes."""

from __future__ import annotations

import os
import signal
import time

import pytest

from vision_assets.core.training.stop_signals import remembered_stop_signals


class Interrupted(BaseException):
    """What the run's handler raises (Dagster raises DagsterExecutionInterruptedError)."""


def _raise(signo, frame):
    raise Interrupted(signo)


def _swallowing_library(signo: int) -> None:
    """A library that catches everything while the signal arrives (the exception never reaches the caller)."""
    try:
        os.kill(os.getpid(), signo)
        time.sleep(0.05)  # the handler runs here
    except BaseException:  # noqa: BLE001, S110 - what such a library does
        pass


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_a_swallowed_stop_signal_is_raised_again_by_the_handler_in_force(signo):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signo, _raise)
    try:
        with remembered_stop_signals() as stops:
            stops.raise_if_received()  # nothing received yet: no effect
            _swallowing_library(signo)
            assert stops.received == [signo]
            with pytest.raises(Interrupted):
                stops.raise_if_received()
        assert signal.getsignal(signo) is _raise  # the handler in force is back
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_an_ignored_signal_stays_ignored_and_handlers_are_restored():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with remembered_stop_signals() as stops:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert stops.received == []
            stops.raise_if_received()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) == before[signal.SIGINT]
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
