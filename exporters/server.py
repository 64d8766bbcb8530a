"""Serving the exporter's WSGI app on each configured listen address (probes.httpd: cheroot,
sockets bound here, so a busy port is a clear one-line error)."""

from __future__ import annotations

import socket
from typing import Any

from exporters.config import ConfigError, parse_listen
from probes.httpd import Servers
from probes.net import listen


class HttpServers(Servers):
    """One cheroot server per listen address, each in its own thread."""

    def __init__(self, addresses: tuple[str, ...], app: Any, threads: int = 16) -> None:
        sockets: list[socket.socket] = []
        try:
            for addr in addresses:
                host, port = parse_listen(addr)
                try:
                    sockets.append(listen(host, port, 128))
                except OSError as exc:
                    raise ConfigError(f"listen {addr}: cannot listen: {exc.strerror}") from None
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        super().__init__(sockets, app, threads, "fedprobe-exporter")
