"""Ctrl-C: exit code 130 (128 + SIGINT, what shells and ruff report), no traceback, no file
left half-written.

:func:`install` replaces Python's SIGINT handler for a command-line run. In the main process
it raises :class:`Interrupted`, which is not a ``KeyboardInterrupt``: click turns those into
"Aborted!" and exit code 1, the code for "findings remain". A worker process forked from it
(the lint pool) exits at once and quietly instead of printing a traceback; the main process
passes the signal on to its workers (``kill -INT`` reaches only the main process) and
cancels what is left. Around the writing of a fixed file, :func:`deferred` holds the
interrupt back until the file is written, so each file is either fixed or untouched.

Standard library only (``signal`` is imported when a run starts, not on the warm replay).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterator

EXIT_INTERRUPTED = 130


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) in a command-line run."""


_main_pid: int | None = None
_deferring = False
_pending = False


def _on_sigint(signum: int, frame: object) -> None:
    global _pending
    if os.getpid() != _main_pid:
        os._exit(EXIT_INTERRUPTED)  # a forked worker: the main process reports and cleans up
    if _deferring:
        _pending = True
        return
    _stop_workers(signum)
    raise Interrupted


def _stop_workers(signum: int) -> None:
    """Pass the signal on to the worker processes (a terminal sends it to them too, ``kill``
    does not): each exits at once, so the pool shuts down without finishing its queue."""
    import sys

    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None:
        return
    for child in multiprocessing.active_children():
        try:
            os.kill(child.pid, signum)
        except (OSError, TypeError):
            pass


def install() -> None:
    """Handle SIGINT as described above, unless it is ignored (a background job of a
    non-interactive shell) or handled by someone else already."""
    import signal

    global _main_pid
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    _main_pid = os.getpid()
    signal.signal(signal.SIGINT, _on_sigint)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C back while the block runs; raise :class:`Interrupted` after it if one came."""
    global _deferring, _pending
    outer = _deferring
    _deferring = True
    try:
        yield
    finally:
        _deferring = outer
        if not outer and _pending:
            _pending = False
            raise Interrupted


def message(stream: object) -> None:
    try:
        stream.write("asyncloop-lint: interrupted\n")  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):
        pass
