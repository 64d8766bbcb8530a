"""Fixtures of the runner's unit tests over the in-memory fake cloud (tests/fakecloud.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.runner.inbox import listener
from tests.fakecloud import OPENSTACK_LIKE, FakeCloud, sshd_like


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """One port answering like sshd on 127.0.0.1 and ::1."""
    with sshd_like() as port:
        yield port


@pytest.fixture(params=["openstack-like", "console-less"])
def cloud(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FakeCloud]:
    """A healthy fake cloud whose VMs have loopback addresses; its runs keep their ledger in
    this test's own state directory. Twice: with a console (as OpenStack), and without one,
    where the guest posts its report home to the run's listener (cloud.channel)."""
    if request.param == "openstack-like":
        fake = FakeCloud(addresses=((4, "127.0.0.1"), (6, "::1")))
        fake.state_dir = tmp_path / "state"
        yield fake
        return
    fake = FakeCloud(addresses=((4, "127.0.0.1"), (6, "::1")),
                     capabilities=OPENSTACK_LIKE - {"console"})
    fake.state_dir = tmp_path / "state"
    with listener("127.0.0.1:0") as channel:
        fake.channel = channel
        yield fake
