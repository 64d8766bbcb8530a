"""reach.tcp against a real listener on loopback: the TCP check, and the optional ping beside
it — which says why it did not run when ping is missing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes import programs
from probes.deadline import Deadline
from probes.runner.reach import tcp
from tests.fakecloud import sshd_like


@pytest.fixture
def port() -> Iterator[int]:
    with sshd_like(("127.0.0.1",)) as port:
        yield port


def test_open_port_and_ping(port: int) -> None:
    got = tcp("127.0.0.1", port, Deadline(10), icmp=True)
    assert got.ok and got.attempts == 1 and got.banner == "SSH-2.0-fake"
    assert got.icmp is True and got.icmp_error == ""
    assert tcp("127.0.0.1", port, Deadline(10)).icmp is None  # not asked for


def test_missing_ping_is_said_not_hidden(port: int, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(programs, "SBIN", ())
    got = tcp("127.0.0.1", port, Deadline(10), icmp=True)
    assert got.ok and got.icmp is None
    assert got.icmp_error == "'ping' not found: install the Debian package iputils-ping"


def test_closed_port_until_the_deadline() -> None:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
    got = tcp("127.0.0.1", port, Deadline(0.6))
    assert not got.ok and got.attempts >= 2 and got.error
