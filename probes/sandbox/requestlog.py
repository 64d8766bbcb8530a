"""The sandbox's request log: what tests and benchmarks read to see what a client really did."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LoggedRequest:
    seq: int
    time: float
    method: str
    path: str
    query: str
    service: str
    operation: str
    status: int
    duration: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for the control API."""
        return asdict(self)


class RequestLog:
    """A bounded, thread-safe log of handled requests (newest kept)."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, method: str, path: str, query: str, service: str, operation: str,
            status: int, duration: float) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(LoggedRequest(next(self._seq), time.time(), method, path, query,
                                               service, operation, status, duration))

    def entries(self, since: int = 0) -> list[LoggedRequest]:
        """Entries with a sequence number above ``since``."""
        with self._lock:
            return [e for e in self._entries if e.seq > since]

    def clear(self) -> None:
        """Forget everything logged so far."""
        with self._lock:
            self._entries.clear()
