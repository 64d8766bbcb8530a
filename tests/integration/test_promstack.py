"""The test-support servers themselves: loopback only, stopped cleanly, no orphan even when the
test process is killed, a failed start leaves nothing running, and a Pushgateway round trip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import promstack
from tests.promstack import (
    PromQueryError,
    check_loopback,
    find_binary,
    scrape_config,
    start_prometheus,
    start_pushgateway,
)
from tests.synthetic_metrics import render

ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """True once no process has the pid (zombies of ours are reaped by wait elsewhere)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return True
        time.sleep(0.05)
    return False


def test_only_loopback_targets() -> None:
    assert check_loopback("127.0.0.1:9090") == "127.0.0.1:9090"
    assert check_loopback("[::1]:9090") == "[::1]:9090"
    assert check_loopback("localhost:80") == "localhost:80"
    for target in ("10.0.0.1:9090", "192.168.1.2:80", "example.org:80", "[2001:db8::1]:80"):
        with pytest.raises(ValueError, match="loopback"):
            check_loopback(target)
    with pytest.raises(ValueError, match="static targets only"):
        start_prometheus(Path("/nonexistent"), [], extra_scrape_configs=[
            {"job_name": "x", "dns_sd_configs": [{"names": ["a.example"]}]}])


def test_missing_binary_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="dev/system-deps"):
        promstack.promtool("--version")


def test_prometheus_listens_on_loopback_and_stops(tmp_path: Path) -> None:
    with start_prometheus(tmp_path, []) as prom:
        assert prom.url.startswith("http://127.0.0.1:")
        assert prom.query("1 + 1")[0]["value"][1] == "2"
        with pytest.raises(PromQueryError, match="parse error"):
            prom.query("rate(up)")
        pid = prom.process.pid
    assert prom.process.returncode is not None and _gone(pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{prom.url}/-/ready", timeout=2)


def test_failed_start_raises_with_the_log_and_leaves_nothing(tmp_path: Path) -> None:
    rules = tmp_path / "broken.rules.yml"
    rules.write_text("groups: [{name: g, rules: [{record: x, expr: 'rate(up'}]}]\n")
    before = set(os.listdir("/proc"))
    with pytest.raises(RuntimeError, match="prometheus exited"):
        start_prometheus(tmp_path, [], rule_files=[rules])
    ours = [p for p in set(os.listdir("/proc")) - before if p.isdigit()
            and "prometheus" in Path(f"/proc/{p}/comm").read_text(errors="replace")]
    assert ours == []


_ORPHAN = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.promstack import start_prometheus
prom = start_prometheus(Path({tmp!r}), [])
print(prom.process.pid, flush=True)
time.sleep(60)
"""


def test_no_orphan_when_the_test_process_is_killed(tmp_path: Path) -> None:
    find_binary("prometheus")
    script = _ORPHAN.format(root=str(ROOT), tmp=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert _gone(pid), f"prometheus {pid} outlived its killed parent"
    finally:
        child.kill()
        child.wait()


def test_pushgateway_round_trip(tmp_path: Path) -> None:
    """One-shot style: push a site's results, Prometheus scrapes them with honor_labels."""
    with start_pushgateway(tmp_path) as gateway:
        assert gateway.url.startswith("http://127.0.0.1:")
        site_a = "\n".join(line for line in render(1, time.time()).splitlines()
                           if line.startswith("#") or 'site="site-a"' in line) + "\n"
        session = requests.Session()
        session.trust_env = False
        resp = session.put(f"{gateway.url}/metrics/job/fedprobe_vm/site/site-a", data=site_a,
                           timeout=10)
        assert resp.status_code == 200, resp.text
        target = gateway.url.removeprefix("http://")
        job = scrape_config("pushgateway", [target], honor_labels=True)
        with start_prometheus(tmp_path, [], extra_scrape_configs=[job]) as prom:
            found = prom.wait_for('fedprobe_check_status{job="fedprobe_vm", check="vm"}')
        assert [s["metric"]["site"] for s in found] == ["site-a"]
