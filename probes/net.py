"""A listening TCP socket on one address: IPv6 sockets are v6-only, so 127.0.0.1 and ::1 (or a
guest's two addresses) can share a port number."""

from __future__ import annotations

import ipaddress
import re
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


def host_port(addr: str) -> tuple[str, int]:
    """'127.0.0.1:9847', 'localhost:9847' or '[::1]:9847' -> (host, port); ValueError else."""
    host, sep, port = addr.rpartition(":")
    v6 = host.startswith("[") and host.endswith("]") and len(host) > 2
    host = host[1:-1] if v6 else host
    if not (sep and host and port.isdigit() and 0 <= int(port) <= 65535 and _host_ok(host, v6)):
        raise ValueError(f"{addr!r:.80}: expected HOST:PORT or [V6]:PORT")
    return host, int(port)


def _host_ok(host: str, v6: bool) -> bool:
    """An IPv6 address in brackets, or an IPv4 address or host name without."""
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address) == v6
    except ValueError:
        return not v6 and re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", host) is not None
