"""One thread answering every guest's reachability port with an SSH banner.

A selector serves all listening sockets (process guests' loopback ones and namespace guests'
ones created inside their namespaces), so a thousand guests do not need a thousand threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading

from probes.sandbox.guests.base import SSH_BANNER

log = logging.getLogger(__name__)


class BannerService:
    """Accepts connections on registered sockets and answers with an SSH banner."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sandbox-banner", daemon=True)
        self._thread.start()

    def add(self, sock: socket.socket) -> None:
        """Serve a listening socket."""
        sock.setblocking(False)
        with self._lock:
            self._selector.register(sock, selectors.EVENT_READ, sock)
        self._wake()

    def remove(self, sock: socket.socket) -> None:
        """Stop serving a socket and close it."""
        with self._lock, contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        sock.close()
        self._wake()

    def close(self) -> None:
        """Stop the thread and close every socket."""
        self._closed = True
        self._wake()
        self._thread.join(timeout=5)
        with self._lock:
            for key in list(self._selector.get_map().values()):
                if isinstance(key.data, socket.socket):
                    key.data.close()
            self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        while not self._closed:
            try:
                events = self._selector.select(timeout=1.0)
            except (OSError, ValueError):
                continue
            for key, _ in events:
                if key.data is None:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 4096)
                    continue
                self._answer(key.data)

    @staticmethod
    def _answer(listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        try:
            conn.settimeout(1.0)
            conn.sendall(SSH_BANNER)
        except OSError as exc:
            log.debug("banner send failed: %s", exc)
        finally:
            conn.close()
