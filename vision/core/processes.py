"""Child processes: tying one's life to its parent's, and saying why one ended."""

from __future__ import annotations

import contextlib
import ctypes
import signal

CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL})


def die_with_parent() -> None:
    """Called in a child: Linux sends it SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG), so no
    worker or decoder outlives a parent killed with SIGKILL. Elsewhere it does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def describe_exit(returncode: int | None, what: str) -> str:
    """Why a child process (`what`: "decoder", "the worker") ended, from its exit status (negative: a signal)."""
    if returncode is None:
        return f"{what} did not exit"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        verb = "crashed" if number in CRASH_SIGNALS else "was killed"
        return f"{what} {verb} (signal {number}, {name})"
    return f"{what} exited with status {returncode}"
