"""A stop signal that a library swallowed is still honoured by the training step.

A SIGTERM (a pod being evicted) or Ctrl-C that arrives while a C extension initializes is raised by the run's signal
handler inside that initialization, and torch's (`from torch._C import *`, in the training step's first second)
discards it: the step then trained to the end and `vision-assets demo` exited 0 as if it had never been told to stop
(reproduced: a SIGTERM 0.4 s after the step started). While a training step runs, every stop signal is therefore
also remembered here, and the step's checkpoints (after the imports, after each epoch, before the outputs are
written) raise it again through the handler that was in force, so the run ends as interrupted either way."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """The stop signals received while the block ran, and the handlers they were meant for."""

    def __init__(self, handlers: dict[int, object] | None = None):
        self.received: list[int] = []
        self._handlers = handlers or {}

    def raise_if_received(self) -> None:
        """Act on the first stop signal received as its handler would have (Dagster's raises the run's interrupt
        error); a signal whose handler did not raise (the default for SIGTERM, or none known) ends as
        KeyboardInterrupt."""
        if not self.received:
            return
        signo = self.received[0]
        handler = self._handlers.get(signo)
        if callable(handler):
            handler(signo, None)
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signo).name}")


@contextmanager
def remembered_stop_signals() -> Iterator[StopSignals]:
    """Within the block, SIGINT and SIGTERM are recorded and then handled as before; outside the main thread (where
    handlers cannot be set) nothing changes and nothing is recorded."""
    if threading.current_thread() is not threading.main_thread():
        yield StopSignals()
        return
    previous = {signo: signal.getsignal(signo) for signo in STOP_SIGNALS}
    stops = StopSignals(previous)

    def remember(signo: int, frame) -> None:
        if previous[signo] != signal.SIG_IGN:  # a signal the process ignores stays ignored
            stops.received.append(signo)
        _handle(signo, frame, previous[signo])

    for signo in STOP_SIGNALS:
        signal.signal(signo, remember)
    try:
        yield stops
    finally:
        for signo, handler in previous.items():
            signal.signal(signo, handler if handler is not None else signal.SIG_DFL)


def _handle(signo: int, frame, handler: object) -> None:
    if callable(handler):
        handler(signo, frame)
    elif handler == signal.SIG_DFL:  # what the signal would have done: end the process
        signal.signal(signo, signal.SIG_DFL)
        os.kill(os.getpid(), signo)
