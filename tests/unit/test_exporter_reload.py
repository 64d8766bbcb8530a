"""A reload does what it says, per key: `workers` applied at once, `listen` and
`monitoring_host` refused with a line saying why (the running config stays), everything else
applied. The exporter runs for real (its scheduler threads), with no checks enabled, so that
nothing leaves the machine."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporters.app import Exporter

OFF = {c: {"enabled": False} for c in ("vm", "keystone", "api", "proxy", "token")}


def write(root: Path, **changes: Any) -> Path:
    (root / "sites.yaml").write_text(yaml.safe_dump({"sites": {"A": {
        "image": {"name": "cirros"}, "auth": {"type": "token", "auth_url": "https://k/v3",
                                              "token": "t", "project_id": "p"}}}}))
    config = {"sites_file": "sites.yaml", "listen": ["127.0.0.1:0"], "checks": OFF,
              "monitoring_host": "probe-a.example.org",
              "workers": {"vm": 1, "fast": 2}, **changes}
    (root / "exporter.yaml").write_text(yaml.safe_dump(config))
    return root / "exporter.yaml"


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[Exporter]:
    x = Exporter(write(tmp_path))
    x.start()
    yield x
    x.stop()


def workers_alive(pool: str) -> int:
    return sum(t.name.startswith(f"fedprobe-{pool}-") and t.is_alive()
               for t in threading.enumerate())


def test_workers_are_applied_at_once(exporter: Exporter, tmp_path: Path) -> None:
    assert workers_alive("fast") == 2
    write(tmp_path, workers={"vm": 3, "fast": 6})
    assert exporter.reload() and exporter.reload_ok
    assert exporter.scheduler.workers == {"vm": 3, "fast": 6}
    assert (workers_alive("vm"), workers_alive("fast")) == (3, 6)
    write(tmp_path, workers={"vm": 1, "fast": 1})
    assert exporter.reload()
    for _ in range(200):  # idle workers leave at once
        if (workers_alive("vm"), workers_alive("fast")) == (1, 1):
            break
        threading.Event().wait(0.01)
    assert (workers_alive("vm"), workers_alive("fast")) == (1, 1)
    assert exporter.scheduler.queue_depth("fast") == 0


@pytest.mark.parametrize("changes,words", [
    ({"listen": ["127.0.0.1:0", "[::1]:0"]},
     "listen changed (127.0.0.1:0 -> 127.0.0.1:0, [::1]:0): restart the exporter"),
    ({"monitoring_host": "probe-b.example.org"},
     "monitoring_host changed (probe-a.example.org -> probe-b.example.org): VMs this exporter "
     "tagged as its own would no longer be swept"),
    ({"monitoring_host": None}, f"monitoring_host changed (probe-a.example.org -> "
                                f"{socket.getfqdn()})"),
])
def test_what_needs_a_restart_is_refused_and_the_running_config_kept(
        exporter: Exporter, tmp_path: Path, changes: dict[str, Any], words: str) -> None:
    before = exporter.config
    write(tmp_path, history=3, **changes)  # and a change that would apply
    assert not exporter.reload()
    assert not exporter.reload_ok and words in exporter.reload_error
    assert exporter.reload_error.startswith(f"exporter config {tmp_path / 'exporter.yaml'}: ")
    assert exporter.config is before and exporter.config.file.history == 10
    write(tmp_path, history=3)  # put back: the next reload works
    assert exporter.reload() and exporter.reload_ok and exporter.config.file.history == 3
