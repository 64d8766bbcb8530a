"""A listening TCP socket on one address: IPv6 sockets are v6-only, so 127.0.0.1 and ::1 (or a
guest's two addresses) can share a port number."""

from __future__ import annotations

import socket


def listen(addr: str, port: int, backlog: int = 16) -> socket.socket:
    """Bind and listen, or raise OSError (the socket closed)."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((addr, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock
