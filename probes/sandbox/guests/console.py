"""A guest's console log: a file the guest's processes write to, read back for
os-getConsoleOutput. Boot messages are timestamped like a kernel's."""

from __future__ import annotations

import threading
import time
from pathlib import Path


class ConsoleLog:
    """Append-only console file with a size cap (oldest output is what the API drops)."""

    def __init__(self, path: Path, limit_bytes: int) -> None:
        self.path = path
        self._limit = limit_bytes
        self._start = time.monotonic()
        self._lock = threading.Lock()
        path.touch(mode=0o600)

    def say(self, message: str) -> None:
        """Append a boot-style line: ``[   1.234567] message``."""
        stamp = time.monotonic() - self._start
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"[{stamp:12.6f}] {message}\n")

    def read(self) -> str:
        """The whole log (at most the cap, newest kept)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ""
        if len(data) > self._limit:
            data = data[-self._limit:]
        return data.decode("utf-8", errors="replace")
