"""reach.tcp against a real listener on loopback: the TCP check, and the optional ping beside
it — which says why it did not run when ping is missing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes import programs
from probes.deadline import Deadline
from probes.runner.reach import tcp


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that greets like sshd (the probe waits a moment for a banner)."""
    srv = socket.create_server(("127.0.0.1", 0))

    def greet() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-test\r\n")

    threading.Thread(target=greet, daemon=True).start()
    yield srv
    srv.close()


def test_open_port_and_ping(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    got = tcp("127.0.0.1", port, Deadline(10), icmp=True)
    assert got.ok and got.attempts == 1 and got.banner == "SSH-2.0-test"
    assert got.icmp is True and got.icmp_error == ""
    assert tcp("127.0.0.1", port, Deadline(10)).icmp is None  # not asked for


def test_missing_ping_is_said_not_hidden(listener: socket.socket, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(programs, "SBIN", ())
    got = tcp("127.0.0.1", listener.getsockname()[1], Deadline(10), icmp=True)
    assert got.ok and got.icmp is None
    assert got.icmp_error == "'ping' not found: install the Debian package iputils-ping"


def test_closed_port_until_the_deadline() -> None:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
    got = tcp("127.0.0.1", port, Deadline(0.6))
    assert not got.ok and got.attempts >= 2 and got.error
