"""Fidelity: clients nobody here wrote, pinned in a venv of their own (dev/clients-requirements.txt,
installed by `make test` into .venv-clients), against a TLS sandbox — the libraries EGI's probe is
built on (tests/clients/egi_probe.py) and the `openstack` CLI, each command's JSON checked."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from probes.sandbox import Sandbox
from probes.sandbox.ids import stable_hex
from tests.conftest import make_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "clients" / "egi_probe.py"
# What each command may take (they run in ~1.5 s here; the bound only catches a hang).
TIMEOUT = 60


def clients_venv() -> Path:
    """Where `make test` installed the clients (a clear failure when it did not)."""
    path = Path(os.environ.get("FEDPROBE_CLIENTS_VENV", ROOT / ".venv-clients"))
    if not (path / "bin" / "openstack").exists():
        pytest.fail(f"the OpenStack clients are not installed in {path}: run `make test` (it "
                    "installs dev/clients-requirements.txt there)", pytrace=False)
    return path


def client_env(sb: Sandbox) -> dict[str, str]:
    """The test's environment without any OS_* of the machine, pointed at the sandbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(sb.clouds_yaml)
    return env


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[Sandbox]:
    """One TLS sandbox (process guests) for the module, the commands share it; with a shared
    image besides the default ones."""
    images = [i.model_dump() for i in make_config().images]
    sb = Sandbox(make_config(images=[*images, {"name": "shared-image", "visibility": "shared"}]),
                 tls=True).start()
    try:
        yield sb
    finally:
        sb.stop()


class Cli:
    """Runs .venv-clients/bin/openstack --os-cloud sandbox against one sandbox."""

    def __init__(self, sb: Sandbox) -> None:
        self.program = str(clients_venv() / "bin" / "openstack")
        self.env = client_env(sb)
        self.timings: list[tuple[str, float]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The command's result, whatever its exit status (timed)."""
        start = time.monotonic()
        done = subprocess.run([self.program, "--os-cloud", "sandbox", *args], env=self.env,
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)
        self.timings.append((" ".join(args[:3]), time.monotonic() - start))
        return done

    def json(self, *args: str) -> Any:
        """The parsed `-f json` output of a command that must succeed."""
        done = self.run(*args, "-f", "json")
        assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr.strip()}"
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cli(tls_sandbox: Sandbox) -> Iterator[Cli]:
    runner = Cli(tls_sandbox)
    yield runner
    if runner.timings:
        mean = sum(t for _, t in runner.timings) / len(runner.timings)
        print(f"\nopenstack CLI: {len(runner.timings)} commands, {mean:.2f} s each on average")


# -- EGI's probe, with the client libraries ------------------------------------------------------

@pytest.fixture(scope="module")
def egi_seen(tls_sandbox: Sandbox) -> dict[str, Any]:
    """What tests/clients/egi_probe.py saw, run once against the TLS sandbox."""
    idp = tls_sandbox.config.identity.identity_providers[0]
    cfg = {"auth_url": tls_sandbox.auth_url, "cacert": str(tls_sandbox.ca_file),
           "identity_provider": idp.id, "protocol": "openid",
           "access_token": idp.tokens[0].token, "image_property": ["ad:appid", "egi.cirros.0.6"],
           "timeout": 30}
    done = subprocess.run([str(clients_venv() / "bin" / "python"), str(PROBE)],
                          input=json.dumps(cfg), env=client_env(tls_sandbox),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr.strip()
    assert idp.tokens[0].token not in done.stdout + done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_egi_probe_lists_projects_and_rescopes(egi_seen: dict[str, Any]) -> None:
    assert egi_seen["auth_projects"] == ["vo.example.org"]
    assert egi_seen["federation_projects"] == ["vo.example.org"]
    assert egi_seen["user_projects"] == ["vo.example.org"]
    assert egi_seen["scoped_project"] == {"id": stable_hex("project", "vo.example.org"),
                                          "name": "vo.example.org"}


def test_egi_probe_finds_image_flavor_network(egi_seen: dict[str, Any]) -> None:
    assert egi_seen["images_listed"] == ["cirros-0.6.2-x86_64", "shared-image", "ubuntu-22.04"]
    assert egi_seen["image_by_id"]["name"] == "cirros-0.6.2-x86_64"
    assert egi_seen["image_by_property"] == [egi_seen["image_by_id"]["id"]]
    assert egi_seen["flavor"] == {"id": "42", "name": "c1.nano", "vcpus": 1, "ram": 64}
    assert egi_seen["network"]["name"] == "shared-net"  # vo.example.org has no network of its own


def test_egi_probe_boots_and_deletes(egi_seen: dict[str, Any], tls_sandbox: Sandbox) -> None:
    server = egi_seen["server"]
    assert server["networks"] == ["shared-net"]
    assert {"fedprobe.host": "egi-probe", "org.egi.probe": "novaprobe"}.items() \
        <= server["metadata"].items()
    assert egi_seen["statuses_to_active"][-1] == "ACTIVE"
    assert egi_seen["statuses_to_gone"][-1] == "404"
    assert all(s["id"] != server["id"] for s in tls_sandbox.live_servers())


@pytest.mark.xfail(strict=True, reason="Nova gap: the sandbox adds its own 'sandbox:reach_port' "
                                       "to the metadata a client set; real Nova shows exactly "
                                       "what the client set")
def test_egi_probe_server_metadata_is_what_it_set(egi_seen: dict[str, Any]) -> None:
    assert egi_seen["server"]["metadata"] == {"fedprobe.host": "egi-probe",
                                              "org.egi.probe": "novaprobe"}


# -- the openstack CLI ---------------------------------------------------------------------------

def test_cli_server_lifecycle(cli: Cli, tls_sandbox: Sandbox) -> None:
    created = cli.json("server", "create", "--image", "cirros-0.6.2-x86_64", "--flavor",
                       "c1.nano", "--network", "demo-net", "--property", "fedprobe.host=osc",
                       "--wait", "osc-test")
    assert created["status"] == "ACTIVE" and created["name"] == "osc-test"
    shown = cli.json("server", "show", created["id"])
    assert shown["id"] == created["id"] and shown["status"] == "ACTIVE"
    assert shown["properties"]["fedprobe.host"] == "osc"
    assert set(shown["addresses"]) == {"demo-net"}
    listed = cli.json("server", "list")
    assert [(s["ID"], s["Status"]) for s in listed] == [(created["id"], "ACTIVE")]
    console = cli.run("console", "log", "show", created["id"])
    assert console.returncode == 0, console.stderr
    assert created["id"] in console.stdout and "booting" in console.stdout
    deleted = cli.run("server", "delete", "--wait", created["id"])
    assert deleted.returncode == 0, deleted.stderr
    gone = cli.run("server", "show", created["id"], "-f", "json")
    assert gone.returncode == 1 and f"No Server found for {created['id']}" in gone.stderr
    assert cli.json("server", "list") == []
    assert tls_sandbox.live_servers() == []


def _names(rows: list[dict[str, Any]], key: str = "Name") -> list[str]:
    return sorted(str(r[key]) for r in rows)


def _table(rows: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    return {r[key]: r[value] for r in rows}


DEMO_PROJECT = stable_hex("project", "demo")
DEMO_USER = stable_hex("user", "demo")


def _secret_free(out: Any) -> bool:
    return "sandbox-appcred-secret" not in json.dumps(out)


# (command, what its parsed JSON must show); each a real-OpenStack answer for user demo.
CHECKS: list[tuple[str, Callable[[Any], bool]]] = [
    ("image list", lambda out: _names(out) == ["cirros-0.6.2-x86_64", "shared-image",
                                               "ubuntu-22.04"]),
    ("image member list shared-image",  # demo is a member (the admin project owns it)
     lambda out: [(m["Member ID"], m["Status"]) for m in out] == [(DEMO_PROJECT, "accepted")]),
    ("image list --property os_distro=ubuntu", lambda out: _names(out) == ["ubuntu-22.04"]),
    ("image show cirros-0.6.2-x86_64",
     lambda out: out["properties"]["ad:appid"] == "egi.cirros.0.6" and out["min_ram"] == 64),
    ("flavor list", lambda out: _names(out) == ["c1.nano", "m1.medium", "m1.small", "m1.tiny"]
     and next(f for f in out if f["Name"] == "c1.nano")["RAM"] == 64),
    ("flavor show c1.nano", lambda out: (out["vcpus"], out["ram"], out["disk"]) == (1, 64, 1)),
    ("network list", lambda out: _names(out) == ["demo-net", "public", "shared-net"]),
    ("network show demo-net", lambda out: len(out["subnets"]) == 2 and out["mtu"] == 1450),
    ("subnet list --network demo-net", lambda out: _names(out) == ["demo-v4", "demo-v6"]),
    ("security group list", lambda out: _names(out) == ["default"]),
    ("availability zone list --network",
     lambda out: {r["Zone Name"] for r in out} == {"nova"}),
    ("quota show", lambda out: {"instances": 10, "cores": 20, "ram": 51200, "networks": 100,
                                "ports": 500, "security_groups": 10}.items()
     <= _table(out, "Resource", "Limit").items()),
    ("limits show --absolute", lambda out: {"max_total_instances": 10, "max_total_cores": 20,
                                            "max_total_ram_size": 51200,
                                            "total_instances_used": 0}.items()
     <= _table(out, "Name", "Value").items()),
    ("project list", lambda out: _names(out) == ["demo", "vo.example.org"]),
    ("token issue", lambda out: (out["project_id"], out["user_id"]) == (DEMO_PROJECT, DEMO_USER)),
    (f"user show {DEMO_USER}", lambda out: (out["name"], out["domain_id"]) == ("demo", "default")),
    (f"project show {DEMO_PROJECT}", lambda out: out["name"] == "demo" and out["enabled"]),
    ("application credential list", lambda out: [(c["ID"], c["Project ID"]) for c in out]
     == [("sandbox-appcred-demo", DEMO_PROJECT)] and _secret_free(out)),
    ("region list", lambda out: [r["Region"] for r in out] == ["RegionOne"]),
]
# What the sandbox's Nova answers differently from real Nova (see each reason).
NOVA_GAPS = [
    pytest.param("keypair list", lambda out: out == [], id="keypair list"),
    pytest.param("availability zone list --compute", lambda out: {r["Zone Name"] for r in out}
                 == {"nova"}, id="availability zone list --compute"),  # detail 403, then the list
    # (the CLI lifecycle test above ran, and deleted, a server in this module's sandbox)
    pytest.param("usage show", lambda out: out["Project"] == DEMO_PROJECT,
                 id="usage show"),
]


def test_cli_members_of_an_image_not_shared_are_refused(cli: Cli) -> None:
    done = cli.run("image", "member", "list", "cirros-0.6.2-x86_64", "-f", "json")
    assert done.returncode == 1
    assert "ForbiddenException: 403" in done.stderr and "/members" in done.stderr


@pytest.mark.parametrize(("command", "check"),
                         [*(pytest.param(c, f, id=c) for c, f in CHECKS), *NOVA_GAPS])
def test_cli_command(cli: Cli, command: str, check: Callable[[Any], bool]) -> None:
    out = cli.json(*command.split())
    assert check(out), json.dumps(out)[:2000]
