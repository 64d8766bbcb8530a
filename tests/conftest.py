"""Shared fixtures: sandboxes served over real HTTP on loopback, and an authenticated client."""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from probes.sandbox import Sandbox, SandboxConfig
from tests.guards import litter
from tests.guards import session as guards

GUARDS = guards.start()  # before any test module is imported
LITTER_BEFORE = litter.untracked()


@pytest.fixture(autouse=True)
def _guards() -> Iterator[None]:
    """Fail the test that ran an unregistered program or sent traffic off the machine, in this
    process or any it started (tests/guards) — even where the code swallowed the refusal."""
    found = GUARDS.new_violations()  # since the last test: this test's module fixtures
    yield
    found += GUARDS.new_violations()
    if found:
        pytest.fail("test guards refused:\n" + "\n".join(f"  {v.line()}" for v in found),
                    pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Violations outside any test (fixtures, processes still running) fail the session."""
    late = GUARDS.new_violations()
    if late:
        print("\ntest guards refused, outside a test:\n"
              + "\n".join(f"  {v.line()}" for v in late), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    litter_found = sorted(litter.untracked() - LITTER_BEFORE)
    if litter_found:
        print("\ntests left files in the checkout (write to tmp_path instead):\n"
              + "\n".join(f"  {name}" for name in litter_found[:20]), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory,
               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's runs keep their ledger in a directory of their own (processes they start
    inherit it): no test sees another's ledger, nor this machine's."""
    monkeypatch.setenv("FEDPROBE_STATE_DIR", str(tmp_path_factory.mktemp("state")))


DEMO_USER = {"name": "demo", "domain": {"id": "default"}, "password": "sandbox-demo-pw"}
DEMO_SCOPE = {"project": {"name": "demo", "domain": {"id": "default"}}}


def make_config(**overrides: Any) -> SandboxConfig:
    """The default sandbox config with process guests and the given top-level overrides."""
    data: dict[str, Any] = {"guests": {"kind": "process"}}
    data.update(overrides)
    return SandboxConfig.model_validate(data)


class Api:
    """requests against one sandbox with a project-scoped token for demo/demo."""

    def __init__(self, sb: Sandbox, base: str | None = None, microversion: str = "2.79") -> None:
        self.sb = sb
        self.base = base or sb.base_url
        self.verify: str | bool = str(sb.ca_file) if sb.ca_file else True
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override the sandbox's CA
        self.session.verify = self.verify
        self.token = self.password_token()
        self.microversion = microversion

    def password_token(self, scope: dict[str, Any] | None = None) -> str:
        """A token for demo, scoped to demo unless another scope is given."""
        body = {"auth": {"identity": {"methods": ["password"],
                                      "password": {"user": DEMO_USER}},
                         "scope": scope or DEMO_SCOPE}}
        resp = self.session.post(f"{self.base}/identity/v3/auth/tokens", json=body, timeout=10)
        assert resp.status_code == 201, resp.text
        return str(resp.headers["X-Subject-Token"])

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Token and microversion headers."""
        h = {"X-Auth-Token": self.token, "OpenStack-API-Version": f"compute {self.microversion}"}
        h.update(extra or {})
        return h

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.base + path, headers=self.headers(kw.pop("headers", None)),
                                timeout=10, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.session.post(self.base + path, headers=self.headers(kw.pop("headers", None)),
                                 timeout=10, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.session.put(self.base + path, headers=self.headers(kw.pop("headers", None)),
                                timeout=10, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.session.delete(self.base + path,
                                   headers=self.headers(kw.pop("headers", None)),
                                   timeout=10, **kw)

    # -- compute helpers -------------------------------------------------------------------------
    def image_id(self, name_prefix: str = "cirros") -> str:
        images = self.get("/image/v2/images").json()["images"]
        return str(next(i["id"] for i in images if i["name"].startswith(name_prefix)))

    def network_id(self, name: str = "demo-net") -> str:
        nets = self.get("/networking/v2.0/networks", params={"name": name}).json()["networks"]
        return str(nets[0]["id"])

    def create_server(self, name: str = "t", user_data: str | None = None,
                      **extra: Any) -> requests.Response:
        server: dict[str, Any] = {"name": name, "imageRef": self.image_id(), "flavorRef": "42"}
        if "networks" not in extra:
            server["networks"] = [{"uuid": self.network_id()}]
        if user_data is not None:
            server["user_data"] = base64.b64encode(user_data.encode()).decode()
        server.update(extra)
        return self.post("/compute/v2.1/servers", json={"server": server})

    def server(self, server_id: str) -> dict[str, Any]:
        resp = self.get(f"/compute/v2.1/servers/{server_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json()["server"])

    def wait_status(self, server_id: str, want: str, timeout: float = 20) -> dict[str, Any]:
        """Poll until the server has the status (fail the test on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.server(server_id)
            if doc["status"] == want or time.monotonic() > deadline:
                assert doc["status"] == want, f"status {doc['status']} after {timeout}s"
                return doc
            time.sleep(0.05)

    def console(self, server_id: str, length: int | None = None) -> requests.Response:
        return self.post(f"/compute/v2.1/servers/{server_id}/action",
                         json={"os-getConsoleOutput": {"length": length}})

    def wait_console(self, server_id: str, needle: str, timeout: float = 20) -> str:
        """Poll the console until it contains the needle."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            resp = self.console(server_id)
            if resp.status_code == 200:
                text = resp.json()["output"]
                if needle in text:
                    return str(text)
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not in console after {timeout}s:\n{text}")

    def wait_gone(self, server_id: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.get(f"/compute/v2.1/servers/{server_id}").status_code != 404:
            assert time.monotonic() < deadline, "server still there"
            time.sleep(0.05)


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with a given config (process guests by default); all stopped at the end."""
    started: list[Sandbox] = []

    def start(config: SandboxConfig | None = None, **kw: Any) -> Sandbox:
        sb = Sandbox(config or make_config(), **kw).start()
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    """One default sandbox per test module, for tests that change nothing (or set up what they
    need themselves): module-scoped to keep the suite fast."""
    sb = Sandbox(make_config()).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A default sandbox (process guests, plain HTTP)."""
    return sandbox_factory()


@pytest.fixture
def api(sandbox: Sandbox) -> Api:
    """An authenticated client for the default sandbox."""
    return Api(sandbox)
