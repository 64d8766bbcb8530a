"""The test suite's own guards (tests/guards): what they let through, what they refuse, in this
process, in the processes it starts, and that they fail a test even when the code swallowed
the refusal."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.guards import audit, egress
from tests.guards.argv import programs_in

ROOT = Path(__file__).resolve().parents[2]
GUARD_VARS = (audit.LOG_VAR, audit.NETNS_VAR, audit.OWN_VAR)


def names(*argv: str) -> list[str]:
    return [n for _, n in programs_in(argv[0], list(argv))]


@pytest.mark.parametrize(("argv", "want"), [
    (["ip", "-o", "link"], ["ip"]),
    (["ip", "netns", "exec", "fpsb-1", "unshare", "--uts", "--mount", "--propagation",
      "private", "sh", "-c", "x"], ["ip", "unshare", "sh"]),
    (["timeout", "-s", "KILL", "-k", "1", "5", "wget", "-q"], ["timeout", "wget"]),
    (["timeout", "--signal=TERM", "5s", "/usr/bin/curl"], ["timeout", "curl"]),
    (["unshare", "--net", "--map-root-user", "/tmp/x/user-data"], ["unshare", "user-data"]),
    (["unshare", "--net"], ["unshare", "sh"]),
    (["env", "-i", "A=1", "B=2", "nsenter", "-t", "1", "-n", "--", "ping", "-c1"],
     ["env", "nsenter", "ping"]),
    (["strace", "-f", "-qq", "-e", "trace=execve", "-o", "f", "dash", "s.sh"],
     ["strace", "dash"]),
    (["chroot", "/r", "sh", "-c", "x"], ["chroot", "sh"]),
    (["setsid", "-w", "nice", "-n", "5", "yes"], ["setsid", "nice", "yes"]),
    (["/p/dev/quietly", ".setup/x.log", "apt-get", "update"], ["quietly", "apt-get"]),
])
def test_wrappers_are_looked_through(argv: list[str], want: list[str]) -> None:
    assert names(*argv) == want


def test_unregistered_and_own_programs() -> None:
    own = ("/work/p", "/tmp")
    reg = frozenset({"ip", "sh", "timeout"})
    assert audit.exec_violations("ip", ["ip", "netns", "exec", "n", "sh"], reg, own) == []
    assert audit.exec_violations("/tmp/pytest-1/ud.sh", ["ud.sh"], reg, own) == []
    assert audit.exec_violations("/work/p/.venv/bin/fedprobe", ["fedprobe"], reg, own) == []
    # by name on PATH, a program is never "ours", wherever it is found
    assert len(audit.exec_violations("yes", ["yes"], reg, own)) == 1
    why = audit.exec_violations("timeout", ["timeout", "5", "/usr/bin/wget"], reg, own)
    assert len(why) == 1 and "'/usr/bin/wget' is not in probes/programs.py's registry" in why[0]
    assert audit.exec_violations("/work/pother/x", ["x"], reg, own) != []  # prefix, not a dir


UPLINK = [(ipaddress.ip_network("0.0.0.0/0"), "eth0", True),
          (ipaddress.ip_network("192.0.2.0/24"), "eth0", False),
          (ipaddress.ip_network("::/0"), "eth0", True),
          (ipaddress.ip_network("fe80::/64"), "eth0", False)]
BRIDGE = [(ipaddress.ip_network("198.51.100.0/24"), "fpbr1", False),
          (ipaddress.ip_network("2001:db8:fed:1::/64"), "fpbr1", False)]


@pytest.mark.parametrize(("host", "netns", "table", "ok"), [
    ("127.0.0.1", False, UPLINK, True), ("127.77.0.5", False, UPLINK, True),
    ("::1", False, UPLINK, True), ("::ffff:127.0.0.1", False, UPLINK, True),
    ("0.0.0.0", False, UPLINK, True),
    ("192.0.2.1", False, UPLINK + BRIDGE, False),       # this machine's own network
    ("198.51.100.2", False, UPLINK, False),             # no bridge: it would go to the gateway
    ("198.51.100.2", False, UPLINK + BRIDGE, True),
    ("2001:db8:fed:1::2", False, UPLINK + BRIDGE, True),
    ("2001:db8:fed:2::2", False, UPLINK + BRIDGE, False),
    ("203.0.113.9", False, [*UPLINK, (ipaddress.ip_network("203.0.113.0/24"), "eth0", False)],
     False),                                            # on the uplink: not ours
    ("169.254.169.254", False, UPLINK + BRIDGE, False),  # the host's own metadata service
    ("169.254.169.254", True, [], True),                 # a guest's, inside its namespace
    ("fe80::a9fe:a9fe%eth0", True, [], True), ("fe80::1%eth0", False, UPLINK, False),
    ("8.8.8.8", True, [], False), ("8.8.8.8", False, UPLINK, False),
    ("not-an-address", False, UPLINK, False),
])
def test_address_policy(host: str, netns: bool, table: list[tuple[egress.IPNetwork, str, bool]],
                        ok: bool) -> None:
    assert egress.address_allowed(host, netns, table) is ok


def test_this_machines_routes_parse() -> None:
    table = egress.routes()
    assert any(default for _, _, default in table)  # a machine with a default route
    assert not egress.address_allowed("192.0.2.1", False, table)


def test_names_resolve_only_from_etc_hosts() -> None:
    hosts = egress.etc_hosts("127.0.0.1 localhost\n127.0.1.1 box.example box  # me\n")
    assert hosts["box"] == {"127.0.1.1"}
    for ok in (None, "", "localhost", "BOX.example.", "127.0.0.1", "::1", b"2001:db8::1"):
        assert egress.name_allowed(ok, hosts), ok
    for bad in ("example.com", "keystone.invalid", "localhost.evil", "x.localhost",
                b"metadata.google.internal"):
        assert not egress.name_allowed(bad, hosts), bad


def test_guards_are_on_in_this_process() -> None:
    assert audit.installed()
    with audit.expected() as seen:
        with pytest.raises(audit.Blocked, match="'yes' is not in"):
            subprocess.run(["yes"], check=False)
        with pytest.raises(audit.Blocked, match=r"192\.0\.2\.1"):
            socket.create_connection(("192.0.2.1", 9), timeout=1)
        with pytest.raises(audit.Blocked, match="names resolve only from /etc/hosts"):
            socket.getaddrinfo("fedprobe-egress-canary.invalid", 80)
        with pytest.raises(audit.Blocked):
            os.system("yes >/dev/null")  # noqa: S605 - the guard refuses it
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                pytest.raises(audit.Blocked):
            udp.sendto(b"x", ("192.0.2.1", 53))
    assert [v.kind for v in seen] == ["exec", "egress", "egress", "exec", "egress"]
    assert all("test_guards_are_on_in_this_process" in v.test for v in seen)
    # what is allowed still works
    with socket.create_server(("127.0.0.1", 0)) as srv:
        socket.create_connection(srv.getsockname(), timeout=1).close()
    assert subprocess.run(["sh", "-c", "exit 0"], check=False).returncode == 0


def _child(code: str, log: Path) -> subprocess.CompletedProcess[str]:
    """Python in a child process, with the session's guards but a log of its own."""
    env = {**os.environ, audit.LOG_VAR: str(log)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, env=env, check=False)


def test_guards_are_on_in_child_processes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    proc = _child("""
        import socket, subprocess
        try:  # code that swallows the refusal: the log still has it
            subprocess.run(["timeout", "5", "yes"])
        except OSError as exc:
            print("refused:", exc)
        try:
            socket.create_connection(("192.0.2.1", 9), timeout=1)
        except OSError as exc:
            print("refused:", exc)
        print(subprocess.run(["sh", "-c", "echo allowed"], capture_output=True,
                             text=True).stdout.strip())
        """, log)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("refused: fedprobe test guard:") == 2 and "allowed" in proc.stdout
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert [v["kind"] for v in seen] == ["exec", "egress"]
    assert "'yes' is not in" in seen[0]["detail"] and "192.0.2.1" in seen[1]["detail"]


def test_a_child_whose_guards_cannot_load_is_reported(tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = {**os.environ, audit.LOG_VAR: str(log), audit.NETNS_VAR: "not-a-number"}
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=False, timeout=60)
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert seen and seen[0]["kind"] == "guard" and "did not load" in seen[0]["detail"]


def test_a_test_that_runs_an_unregistered_program_fails(tmp_path: Path) -> None:
    test = tmp_path / "test_sneaky.py"
    test.write_text(textwrap.dedent("""
        import subprocess, sys

        def test_swallows_the_refusal():
            try:
                subprocess.run(["yes"])
            except Exception:
                pass

        def test_child_swallows_it_too():
            subprocess.run([sys.executable, "-c",
                            "import socket\\ntry:\\n socket.getaddrinfo('pypi.org', 443)\\n"
                            "except OSError:\\n pass"], check=True)

        def test_clean():
            subprocess.run(["sh", "-c", "true"], check=True)
        """))
    env = {k: v for k, v in os.environ.items() if k not in GUARD_VARS}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "tests.conftest", "--rootdir", str(tmp_path), str(test)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                          check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "3 passed, 2 errors" in out, out  # the errors: at teardown of the two
    assert "exec: 'yes' is not in probes/programs.py's registry" in out
    assert "egress: socket.getaddrinfo('pypi.org')" in out
