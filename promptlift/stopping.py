"""Stopping a command: Ctrl-C and SIGTERM end a run within about a second, the same way.

The first Ctrl-C (SIGINT) or SIGTERM raises ``KeyboardInterrupt`` in the main thread, wherever
it waits (a thread pool's wait, a retry's sleep, a socket read): the optimizer writes its partial
result and the command prints how to resume. A second signal while that happens ends the
process at once with the same exit code. Threads still blocked on a hung request cannot be
stopped from outside, and the interpreter would join them at exit (up to the call's deadline,
60 s by default); the console script therefore leaves with ``os._exit`` once everything is
written and flushed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Any, Iterator

INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


@contextlib.contextmanager
def signals_stop(label: str, *, hard_exit: bool) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise KeyboardInterrupt once; a second one exits (``hard_exit``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt
        print(f"{label}: interrupted again; stopping now", file=sys.stderr)
        if hard_exit:
            exit_now(INTERRUPTED)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_now(code: int) -> None:
    """Flush what was written and leave the process without joining worker threads."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
