"""Fixtures of the runner's unit tests over the in-memory fake cloud (tests/fakecloud.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakecloud import FakeCloud, sshd_like


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """One port answering like sshd on 127.0.0.1 and ::1."""
    with sshd_like() as port:
        yield port


@pytest.fixture
def cloud(tmp_path: Path) -> FakeCloud:
    """A healthy fake cloud whose VMs have loopback addresses; its runs keep their ledger in
    this test's own state directory."""
    fake = FakeCloud(addresses=((4, "127.0.0.1"), (6, "::1")))
    fake.state_dir = tmp_path / "state"
    return fake
