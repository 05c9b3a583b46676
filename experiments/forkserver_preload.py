"""Imported by the sweep pool's forkserver only (first in its preload list, ``executors``).

A worker the pool starts while the sweep is ending (Ctrl-C) finds the sweep's queues and locks
gone and fails before it runs anything; the forkserver printed that failure as a traceback under
the sweep's "interrupted" line. Such failures of a starting worker are not printed; the sweep sees
the worker die, as before (any other error is printed as usual).
"""

from __future__ import annotations

import sys

_ENDING = (FileNotFoundError, EOFError, BrokenPipeError, ConnectionError, KeyboardInterrupt)
_default_hook = sys.excepthook


def _quiet_when_ending(kind: type[BaseException], value: BaseException, tb: object) -> None:
    if not issubclass(kind, _ENDING):
        _default_hook(kind, value, tb)


sys.excepthook = _quiet_when_ending
