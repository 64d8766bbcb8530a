"""Serving a WSGI app with cheroot (HTTP/1.1 keep-alive, a bounded thread pool) on sockets bound
beforehand (probes.net.listen), so a busy port is a clear error at the caller: the exporter's
web side and a vm run's report listener."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from cheroot import wsgi

log = logging.getLogger(__name__)


class PremadeServer(wsgi.Server):
    """cheroot on a pre-bound socket."""

    expiration_interval = 0.1  # how quickly stop() returns

    def __init__(self, sock: socket.socket, app: Any, threads: int,
                 name: str = "fedprobe") -> None:
        host, port = sock.getsockname()[:2]
        super().__init__((host, port), app, numthreads=threads, server_name=name)
        self._premade = sock

    def bind(self, family: int, type: int, proto: int = 0) -> None:
        """Use the socket bound by the caller."""
        self._premade.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket = self._premade

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        """Connection noise (clients hanging up) to the debug log."""
        log.debug("http: %s", msg, exc_info=traceback)


class Servers:
    """One cheroot server per bound socket, each in its own thread."""

    def __init__(self, sockets: list[socket.socket], app: Any, threads: int = 16,
                 name: str = "fedprobe") -> None:
        self._servers: list[PremadeServer] = []
        self._threads: list[threading.Thread] = []
        try:
            for sock in sockets:
                srv = PremadeServer(sock, app, threads, name)
                srv.prepare()
                self._servers.append(srv)
        except BaseException:
            self.stop()
            raise

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) actually bound (port 0 asked: the one the kernel chose)."""
        return [tuple(s.socket.getsockname()[:2]) for s in self._servers]

    def start(self) -> None:
        """Serve in background threads."""
        for srv in self._servers:
            t = threading.Thread(target=srv.serve, name="fedprobe-http", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        for srv in self._servers:
            srv.stop()
        for t in self._threads:
            t.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
