"""Stopping signals turned into an exception, so that clean-up code runs on them.

SIGTERM and SIGHUP end a Python process at once by default: no ``finally`` block or context manager runs, so a
staging directory, a temporary file or a child process's session would be left behind. Inside
:func:`signals_interrupt` these signals, and SIGINT, raise :class:`Interrupted` where the program is instead.
"""

import signal
from contextlib import contextmanager

STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The process received ``signum`` (SIGINT, SIGTERM or SIGHUP)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_interrupt(*, only_defaults: bool = False):
    """While the block runs, each stopping signal raises :class:`Interrupted`; the first one also makes the others
    ignored, so that the clean-up it starts is not cut short by a second signal. The previous handlers come back
    afterwards. ``only_defaults``: leave a signal alone when the program has its own handler for it (a library
    call). Outside the main thread (where handlers cannot be set) nothing changes."""

    def interrupt(signum, frame):
        for stopping in STOPPING_SIGNALS:
            signal.signal(stopping, signal.SIG_IGN)
        raise Interrupted(signum)

    defaults = (signal.SIG_DFL, signal.default_int_handler)
    previous = {}
    try:
        for stopping in STOPPING_SIGNALS:
            if not only_defaults or signal.getsignal(stopping) in defaults:
                previous[stopping] = signal.signal(stopping, interrupt)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for stopping, handler in previous.items():
            signal.signal(stopping, handler)
