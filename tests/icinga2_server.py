"""A real Icinga 2 (Debian's icinga2-bin) for tests: validated with `daemon -C`, then run in the
foreground from a temporary directory (every Configuration.* directory there, the system
service never involved), the shipped definitions included unmodified, results read back
through its REST API on 127.0.0.1 with certificates from `icinga2 pki`.

../shared/specs/nagios-argo.md has the facts this relies on: at a command's timeout Icinga 2
sends SIGTERM, SIGKILL to the process group 1.1 times later, and forces UNKNOWN."""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import requests.adapters

from probes import programs
from tests import oidc_site

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "packaging/icinga2/fedprobe.conf"
NODE = "fedprobe-test"  # NodeName: the API's certificate and Endpoint
SHARE = Path("/usr/share/icinga2")

# The test's own objects: the features it needs, the API on loopback, a user whose
# notifications append to a file. Scheduled service checks are off: each test runs the checks
# it needs, in the order it needs, with reschedule-check (force), so that nothing else runs.
MAIN_CONF = """\
const FedprobeBin = "{fedprobe}"
include <itl>
include "{shipped}"

object IcingaApplication "app" {{
  enable_service_checks = false
  enable_flapping = false
}}
object CheckerComponent "checker" {{ }}
object NotificationComponent "notification" {{ }}
object FileLogger "main-log" {{
  severity = "notice"
  path = LogDir + "/icinga2.log"
}}
object Endpoint NodeName {{ }}
object Zone "master" {{ endpoints = [ NodeName ] }}
object ApiListener "api" {{
  bind_host = "127.0.0.1"
  bind_port = {port}
}}
object ApiUser "test" {{
  password = "{password}"
  permissions = [ "*" ]
}}

object User "tester" {{ }}
object NotificationCommand "test-notify" {{
  command = [ "{d}/notify.sh", "$host.name$", "$service.name$", "$service.state$",
              "$notification.type$" ]
}}
apply Notification "test" to Service {{
  command = "test-notify"
  users = [ "tester" ]
  interval = 0
  assign where true
}}
"""

def binary() -> str:
    """The daemon itself: Debian's /usr/sbin/icinga2 is a shell wrapper (it runs uname and, for
    the console, ldd) around the binary it names in ICINGA2_BIN."""
    wrapper = Path(programs.require("icinga2"))
    head = wrapper.read_bytes()[:4096]
    if head.startswith(b"#!"):
        named = re.search(rb"^ICINGA2_BIN=(\S+)$", head, re.MULTILINE)
        assert named, f"{wrapper}: a script that names no ICINGA2_BIN"
        return named.group(1).decode()
    return str(wrapper)


def defines(directory: Path) -> list[str]:
    """-D options that put every directory Icinga 2 writes in the test's own."""
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    dirs = {name: directory / name.lower() for name in
            ("ConfigDir", "DataDir", "LogDir", "CacheDir", "SpoolDir", "InitRunDir")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    values = {**{k: str(v) for k, v in dirs.items()}, "PkgDataDir": str(SHARE),
              "IncludeConfDir": str(SHARE / "include"), "RunAsUser": user, "RunAsGroup": group}
    return [f"-DConfiguration.{k}={v}" for k, v in values.items()] + [f"-DNodeName={NODE}"]


def _icinga2(*args: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary(), *args, *defines(directory)], capture_output=True,
                          text=True, timeout=120)


def make_certs(directory: Path) -> Path:
    """A CA (pki new-ca, in DataDir/ca) and the node's certificate signed by it, where the
    ApiListener looks for them (DataDir/certs); the CA's certificate."""
    certs = directory / "datadir/certs"
    certs.mkdir(parents=True, exist_ok=True)
    key, csr, crt = (certs / f"{NODE}.{ext}" for ext in ("key", "csr", "crt"))
    for args in (("pki", "new-ca"),
                 ("pki", "new-cert", "--cn", NODE, "--key", str(key), "--csr", str(csr)),
                 ("pki", "sign-csr", "--csr", str(csr), "--cert", str(crt))):
        done = _icinga2(*args, directory=directory)
        assert done.returncode == 0, f"icinga2 {' '.join(args)}: {done.stdout}{done.stderr}"
    ca = directory / "datadir/ca/ca.crt"
    (certs / "ca.crt").write_bytes(ca.read_bytes())
    return ca


def free_port() -> int:
    """A port nothing listens on now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _NodeAdapter(requests.adapters.HTTPAdapter):
    """HTTPS to 127.0.0.1, its certificate checked against the test's CA for the node's name."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_hostname"] = NODE
        super().init_poolmanager(*args, **kwargs)


@dataclass
class Icinga:
    """One running Icinga 2 and its REST API."""

    directory: Path
    port: int
    password: str = field(repr=False)  # the API user's: never in a failure's output
    ca: Path
    process: subprocess.Popen[bytes] | None = None
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False  # no proxy between us and 127.0.0.1
        self.session.mount("https://", _NodeAdapter())
        self.session.verify = str(self.ca)
        self.session.auth = ("test", self.password)
        self.session.headers["Accept"] = "application/json"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/v1"

    def services(self) -> dict[str, dict[str, Any]]:
        """Every service's attributes, by "host!service"."""
        resp = self.session.get(f"{self.url}/objects/services", timeout=10, params={
            "attrs": ["last_check_result", "last_check", "state", "state_type",
                      "last_reachable", "check_attempt", "check_interval", "retry_interval",
                      "max_check_attempts", "check_timeout"]})
        resp.raise_for_status()
        return {r["name"]: r["attrs"] for r in resp.json()["results"]}

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Every object of a type (e.g. "dependencies"), attributes and all."""
        resp = self.session.get(f"{self.url}/objects/{kind}", timeout=10)
        resp.raise_for_status()
        return [r["attrs"] for r in resp.json()["results"]]

    def check_now(self, name: str) -> float:
        """Run a service's check now (reschedule-check, forced); its last_check before."""
        before = float(self.services()[name]["last_check"])
        host, service = name.split("!")
        resp = self.session.post(f"{self.url}/actions/reschedule-check", timeout=10, json={
            "type": "Service", "force": True,
            "filter": "host.name == h && service.name == s",
            "filter_vars": {"h": host, "s": service}})
        resp.raise_for_status()
        assert [r["code"] for r in resp.json()["results"]] == [200], resp.text
        return before

    def checked(self, name: str, within: float) -> dict[str, Any]:
        """Run a service's check now and wait for its new result; the service's attributes."""
        before = self.check_now(name)
        found: dict[str, Any] = self.wait(
            f"a new result of {name}",
            lambda s: s[name] if s[name]["last_check"] != before else None, within)
        return found

    def wait(self, what: str, cond: Callable[[dict[str, dict[str, Any]]], Any],
             within: float) -> Any:
        """Poll the services until cond(services) is truthy; its value."""
        assert self.process is not None
        return oidc_site.poll(what, lambda: cond(self.services()), within, self.process,
                              lambda: f"{self.summary()}; log: {self.tail()}", every=0.1)

    def summary(self) -> str:
        """Each service's state and output, for a failing assertion."""
        return "; ".join(f"{name}: {a['state']}/{a['state_type']} "
                         f"{(a['last_check_result'] or {}).get('output', '')[:200]!r}"
                         for name, a in sorted(self.services().items()))

    def notifications(self) -> list[list[str]]:
        """What the test's NotificationCommand wrote: [host, service, state, type] each."""
        return oidc_site.notifications(self.directory)

    def tail(self) -> str:
        return oidc_site.tail(self.directory / "logdir/icinga2.log")


def config(directory: Path, objects: str, fedprobe: Path) -> Icinga:
    """Write icinga2.conf (the shipped file, the test's objects), the certificates and the
    notification script; the Icinga to run."""
    ca = make_certs(directory)
    oidc_site.notify_script(directory)
    icinga = Icinga(directory, free_port(), secrets.token_urlsafe(18), ca)
    (directory / "configdir/icinga2.conf").write_text(MAIN_CONF.format(
        fedprobe=fedprobe, shipped=SHIPPED, port=icinga.port, password=icinga.password,
        d=directory) + objects)
    return icinga


def validate(icinga: Icinga) -> subprocess.CompletedProcess[str]:
    """icinga2 daemon -C: the configuration as Icinga 2 reads it."""
    return _icinga2("daemon", "-C", "-c", str(icinga.directory / "configdir/icinga2.conf"),
                    directory=icinga.directory)


def run(icinga: Icinga, env: dict[str, str]) -> Iterator[Icinga]:
    """Icinga 2 in the foreground until its API answers and the caller is done; then stopped."""
    with (icinga.directory / "stdout.log").open("wb") as out:
        icinga.process = subprocess.Popen(
            [binary(), "daemon", "-c", str(icinga.directory / "configdir/icinga2.conf"),
             *defines(icinga.directory)], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        end = time.monotonic() + 30
        while True:
            assert icinga.process.poll() is None, f"icinga2 exited: {icinga.tail()}"
            try:
                if icinga.session.get(f"{icinga.url}/status", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < end, f"icinga2's API not up in 30 s: {icinga.tail()}"
            time.sleep(0.1)
        yield icinga
    finally:
        try:  # the daemon and its umbrella process, its process group (the plugins each run
            os.killpg(icinga.process.pid, signal.SIGTERM)  # in a session of their own)
            icinga.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(icinga.process.pid, signal.SIGKILL)
            icinga.process.wait(timeout=10)
