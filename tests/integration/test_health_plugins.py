"""Golden-output tests of `fedprobe keystone` and `fedprobe api` against the sandbox over TLS."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from probes.sandbox import Sandbox, SandboxConfig
from tests.conftest import make_config

LINE = re.compile(r"^(KEYSTONE|CLOUD_API) (OK|WARNING|CRITICAL|UNKNOWN) - (.+?)(?: \| (.*))?$")


def plugin(sb: Sandbox | None, *args: str) -> tuple[int, str, str, str]:
    target = ["--sites", str(sb.sites_yaml), "--site", "sandbox"] if sb else []
    proc = subprocess.run([sys.executable, "-m", "probes", *args, *target], capture_output=True,
                          text=True, timeout=60)
    match = LINE.match(proc.stdout.splitlines()[0])
    assert match, proc.stdout + proc.stderr
    assert {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[match.group(2)] == \
        proc.returncode
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.returncode, match.group(3), match.group(4) or "", proc.stdout


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(make_config(), tls=True)


def test_keystone_ok(sb: Sandbox) -> None:
    code, summary, perf, out = plugin(sb, "keystone", "-v")
    assert code == 0 and re.fullmatch(r"Keystone at https://127\.0\.0\.1:\d+/identity/v3: "
                                      r"password in \d\.\d\ds, token valid 3\d{3}s, 3 services "
                                      r"answer", summary)
    assert {p.split("=")[0] for p in perf.split()} == {
        "auth", "total", "version_compute", "version_image", "version_network"}
    assert "version_image      OK" in out and "answered 300" in out


def test_keystone_findings(sb: Sandbox, sandbox_factory: Callable[..., Sandbox]) -> None:
    code, summary, _, _ = plugin(sb, "keystone", "--service", "compute", "--service", "occi")
    assert code == 2 and summary == "catalog_occi: no public occi endpoint in the catalog"
    sb.set_faults(errors={"auth": {"rate": 1.0, "status": 503}})
    code, summary, _, _ = plugin(sb, "keystone")
    assert code == 2 and summary.startswith("auth: password login at")
    identity = SandboxConfig().identity.model_copy(update={"token_lifetime": 120.0})
    short = sandbox_factory(make_config(identity=identity.model_dump()), tls=True)
    code, summary, _, _ = plugin(short, "keystone")
    assert code == 1 and re.fullmatch(r"token_lifetime: token valid 1[01]\ds", summary)


def test_api_ok_and_failures(sb: Sandbox, sandbox_factory: Callable[..., Sandbox]) -> None:
    code, summary, perf, _ = plugin(sb, "api")
    assert code == 0 and "room for a c1.nano (10 instances, 20 cores, 51200 MiB left)" in summary
    assert {p.split("=")[0] for p in perf.split()} == {
        "auth", "flavors", "images", "networks", "limits", "total"}
    sb.set_faults(errors={"flavors": {"rate": 1.0, "status": 500}})
    code, summary, _, _ = plugin(sb, "api")
    assert code == 2 and summary.startswith("flavors: flavors: HTTP 500")
    full = sandbox_factory(make_config(quota={"instances": 0}), tls=True)
    code, summary, _, _ = plugin(full, "api")
    assert code == 2 and summary == "quota: no quota for one c1.nano: instances left 0 < 1"


@pytest.mark.parametrize("args", [["keystone"], ["api", "--bogus"], ["keystone", "-t", "x"]])
def test_bad_input_is_unknown(args: list[str]) -> None:
    code, summary, _, _ = plugin(None, *args)
    assert code == 3 and "\n" not in summary
