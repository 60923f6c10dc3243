"""A clean stop on Ctrl-C (SIGINT) and on SIGTERM, what schedulers and ``kill`` send.

While `StopSignals.installed` is active, the first SIGINT or SIGTERM only
records a request; the training loop finishes its step, saves a
checkpoint and returns. A second signal stops at once: SIGINT raises
`KeyboardInterrupt`, SIGTERM terminates the process with the default
action (both leave the last checkpoint intact, as ``kill -9`` does).
Outside the main thread signals cannot be handled and nothing is
installed.
"""

import os
import signal
import sys
import threading
from contextlib import contextmanager

__all__ = ('StopSignals', 'exit_status')

_HANDLED = (signal.SIGINT, signal.SIGTERM)


def exit_status(signal_name):
    """The shell's exit status of a process stopped by ``signal_name`` (128 + number).

    Examples
    --------
    >>> exit_status('SIGINT'), exit_status('SIGTERM')
    (130, 143)
    """
    return 128 + int(getattr(signal, signal_name))


class StopSignals:
    """Turns the first SIGINT or SIGTERM into a request to stop after the current step.

    Parameters
    ----------
    announce : bool, optional
        Print a line to stderr when a stop is requested.

    Attributes
    ----------
    requested : str or None
        ``'SIGINT'`` or ``'SIGTERM'`` once a stop was requested.

    Examples
    --------
    >>> stop = StopSignals(announce=False)
    >>> with stop.installed():
    ...     os.kill(os.getpid(), signal.SIGTERM)
    ...     stop.requested
    'SIGTERM'
    """

    def __init__(self, announce=True):
        self.announce = announce
        self.requested = None

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.requested is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.requested = name
        if self.announce:
            again = 'Ctrl-C' if signum == signal.SIGINT else 'the signal'
            print(f'\n{name}: finishing the step and saving a checkpoint (send {again} '
                  'again to stop at once).', file=sys.stderr, flush=True)

    @contextmanager
    def installed(self):
        """Handle the signals for the duration of a block."""
        self.requested = None
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.getsignal(signum) for signum in _HANDLED}
        for signum in _HANDLED:
            signal.signal(signum, self._handle)
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                if handler is None:  # installed outside Python: restore Python's default
                    handler = (signal.default_int_handler if signum == signal.SIGINT
                               else signal.SIG_DFL)
                signal.signal(signum, handler)
