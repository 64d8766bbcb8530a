"""The full-fidelity guest: Debian 12 with real cloud-init (ConfigDrive datasource, network from
network_data.json, the user script in cloud-init's final stage) under QEMU — the probe's
user-data proven as it runs at real sites. The slowest test of the suite (a ~2 min image build
once, cached; a 30-90 s boot under TCG): one run, every phase real."""

from __future__ import annotations

import pytest

from probes.sandbox import Sandbox
from tests.conftest import make_config
from tests.integration.test_vm_plugin import PHASES, vm

pytestmark = [pytest.mark.slow, pytest.mark.root, pytest.mark.timeout(900)]


def test_probe_user_data_under_real_cloud_init() -> None:
    sb = Sandbox(make_config(guests={"kind": "qemu", "boot_timeout": 400,
                                     "qemu": {"image": "debian"}})).start()
    try:
        run = vm(sb, "-v", timeout=500)
        assert run.state == "OK", run.out + run.err
        for name in PHASES:
            assert " passed " in run.phase(name), run.phase(name)
        assert "metadata via config-2" in run.phase("context")
        assert "13 keys valid (via metadata)" in run.phase("mjf")
        assert "open after" in run.phase("reach_v4") and "open after" in run.phase("reach_v6")
        assert not sb.live_servers()
    finally:
        sb.stop()
