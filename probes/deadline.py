"""One deadline for a whole run, and polling that starts fast and backs off."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator


class DeadlineExceeded(Exception):
    """The run's deadline passed (or it was interrupted) while waiting."""


class Deadline:
    """A point in monotonic time; every wait is bounded by what is left. ``cancel()`` (from a
    signal handler) makes every wait end at once."""

    def __init__(self, seconds: float, parent: Deadline | None = None) -> None:
        self._end = time.monotonic() + seconds
        self._parent = parent
        self._cancelled: threading.Event = (parent._cancelled if parent is not None
                                            else threading.Event())
        self.reason = ""

    def child(self, seconds: float) -> Deadline:
        """A shorter deadline for one phase: ends at its own time or the parent's, and is
        cancelled with it."""
        return Deadline(seconds, parent=self)

    def left(self) -> float:
        """Seconds left (0 when passed or cancelled)."""
        if self._cancelled.is_set():
            return 0.0
        own = max(0.0, self._end - time.monotonic())
        return own if self._parent is None else min(own, self._parent.left())

    def expired(self) -> bool:
        """Whether no time is left."""
        return self.left() <= 0.0

    def cancel(self, reason: str) -> None:
        """End the run's waits now (SIGTERM/SIGINT)."""
        self.reason = reason
        self._cancelled.set()

    def why(self) -> str:
        """Why waiting stopped: the cancel reason (also a parent's) or the deadline."""
        if self._parent is not None and self._parent.reason:
            return self._parent.reason
        return self.reason or "deadline reached"

    @property
    def cancelled(self) -> bool:
        """Whether cancel() was called."""
        return self._cancelled.is_set()

    def sleep(self, seconds: float) -> None:
        """Sleep at most until the deadline; raise DeadlineExceeded if it is reached."""
        wait = min(seconds, self.left())
        if wait <= 0 or self._cancelled.wait(wait) or self.expired():
            raise DeadlineExceeded(self.why())

    def polls(self, first: float = 0.1, cap: float = 3.0, factor: float = 1.25) -> Iterator[int]:
        """Yield attempt numbers; between them sleep 0.1 s growing by 1.25x to 3 s, within the
        deadline: quick events are seen quickly, long boots cost one request per 3 s."""
        attempt, delay = 0, first
        while True:
            yield attempt
            attempt += 1
            self.sleep(delay)
            delay = min(cap, delay * factor)



MAX_TIMEOUT = 3600.0  # the longest -t or job timeout of any run (the VM sweep's age floor rests
                      # on it: probes.runner.sweep.AGE_FLOOR)
EXIT_MARGIN = 0.5  # seconds of a run's timeout kept for printing or recording its result


def run_deadlines(timeout: float, cleanup: bool = True) -> tuple[Deadline, Deadline]:
    """(soft, hard) for one run given `timeout` seconds in all (``-t``, or an exporter job's):
    the phases get the soft one (cancelled by SIGTERM or shutdown); cleanup keeps going until
    the hard one, a margin later (a fifth of the run, 2 to 60 s). A run with nothing to clean
    up (the fast, read-only checks) gets all of it but the exit margin."""
    if not cleanup:
        left = max(0.5, timeout - EXIT_MARGIN)
        return Deadline(left), Deadline(left)
    hard = Deadline(max(1.0, timeout - EXIT_MARGIN))
    margin = min(60.0, max(2.0, 0.2 * timeout))
    return Deadline(max(0.5, timeout - EXIT_MARGIN - margin)), hard
