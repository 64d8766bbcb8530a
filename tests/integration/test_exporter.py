"""`fedprobe exporter` end to end: the sandbox cloud, the exporter as its own process, and a real
Prometheus scraping it on loopback. What Prometheus stores after real VM, Keystone, API, proxy
and token runs; the exposition linted by promtool; every dashboard query answered; /probe within
the scrape timeout; the status page; reloads; SIGTERM with a VM in flight; the one-shot textfile
(through a real node_exporter) and Pushgateway paths. Slow: real servers, real schedules."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from probes.sandbox import Sandbox
from tests.conftest import Api, make_config
from tests.dashboard_queries import expand, queries
from tests.guards.session import pythonpath
from tests.pki import make_pki
from tests.promstack import (
    PromServer,
    promtool,
    scrape_config,
    start_node_exporter,
    start_prometheus,
    start_pushgateway,
)
from tests.tokens import jwt

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "exporters/alerts/fedprobe.rules.yml"
CANARY = "sandbox-demo-pw"  # the sandbox site's password: must never show anywhere
VO = "vo.example.org"


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


class ExporterProcess:
    """`fedprobe exporter --config FILE` as its own process, its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.config = config
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "probes", "exporter", "--config", str(config)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, stdin=subprocess.DEVNULL)
        self.url = self._wait_url()
        self.http = _session()

    def _wait_url(self, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(r"serving on (http://127\.0\.0\.1:\d+)/", self.text())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"exporter exited {self.proc.returncode}: {self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"exporter did not start: {self.text()}")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"exporter ignored signal {sig}: {self.text()}") from None
        return int(self.proc.returncode)


def _blackhole() -> socket.socket:
    """A listening socket that never accepts: connections open, requests never answer."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def _sites_file(sb: Sandbox, path: Path, hang_port: int) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(sb.sites_yaml.read_text())
    sandbox = data["sites"]["sandbox"]
    data["sites"] = {
        "sandbox": sandbox,
        # discovery fails: the image does not exist (a VM run that fails in phase discover)
        "broken": {**sandbox, "image": {"name": "no-such-image"}},
        # a Keystone that accepts connections and never answers
        "hang": {"auth": {**sandbox["auth"],
                          "auth_url": f"http://127.0.0.1:{hang_port}/identity/v3"}},
    }
    path.write_text(yaml.safe_dump(data))
    return data


def _exporter_config(path: Path, sites_file: str, **extra: Any) -> Path:
    config: dict[str, Any] = {"listen": ["127.0.0.1:0"], "sites_file": sites_file,
                              "monitoring_host": "exporter-test", "shutdown_grace": 60}
    config.update(extra)
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Sandbox + exporter (every check kind) + Prometheus scraping it every second."""
    tmp = tmp_path_factory.mktemp("exporter")
    hole = _blackhole()
    sb = Sandbox(make_config()).start()
    exporter = prom = None
    try:
        _sites_file(sb, tmp / "sites.yaml", hole.getsockname()[1])
        pki = make_pki(tmp / "pki")
        proxy = pki.proxy("proxy.pem", vo=VO, hours=12)
        token = tmp / "token"
        token_exp = time.time() + 7200
        token.write_text(jwt({"sub": "probe", "exp": int(token_exp)}))
        config = _exporter_config(tmp / "exporter.yaml", "sites.yaml", vo=VO, checks={
            "vm": {"interval": 8, "timeout": 60},
            "keystone": {"interval": 2, "timeout": 10},
            "api": {"interval": 2, "timeout": 10},
            "proxy": {"enabled": True, "interval": 3, "file": str(proxy),
                      "cacert": str(pki.certdir)},
            "token": {"enabled": True, "interval": 3, "file": str(token)},
        }, sites={"sandbox": None, "broken": {"keystone": {"enabled": False},
                                              "api": {"enabled": False},
                                              "proxy": {"enabled": False},
                                              "token": {"enabled": False}},
                  # keystone runs that hang until their timeout, all the time
                  "hang": {"keystone": {"interval": 1, "timeout": 4},
                           **{k: {"enabled": False} for k in ("vm", "api", "proxy", "token")}}})
        exporter = ExporterProcess(config, tmp / "exporter.log")
        prom = start_prometheus(tmp, [exporter.url.removeprefix("http://")],
                                rule_files=[RULES])
        yield {"sb": sb, "exporter": exporter, "prom": prom, "token_exp": token_exp,
               "proxy": proxy, "tmp": tmp}
    finally:
        if prom is not None:
            prom.stop()
        if exporter is not None:
            exporter.stop()
        sb.stop()
        hole.close()


def _value(prom: PromServer, expr: str) -> float:
    found = prom.query(expr)
    assert len(found) == 1, f"{expr}: {found}"
    return float(found[0]["value"][1])


def test_prometheus_holds_the_vm_probe_results(stack: dict[str, Any]) -> None:
    prom: PromServer = stack["prom"]
    prom.wait_for('fedprobe_check_runs_total{check="vm", site="sandbox"} >= 1', timeout=60)
    prom.wait_for('fedprobe_check_runs_total{check="vm", site="broken"} >= 1', timeout=60)
    sel = 'check="vm", site="sandbox"'
    assert _value(prom, f"fedprobe_check_status{{{sel}}}") == 0, \
        stack["exporter"].get("/logs?site=sandbox&check=vm").text
    assert _value(prom, f"fedprobe_check_success{{{sel}}}") == 1
    assert _value(prom, f"fedprobe_check_interval_seconds{{{sel}}}") == 8
    assert 0 < _value(prom, f"fedprobe_check_duration_seconds{{{sel}}}") < 60
    assert abs(_value(prom, f"fedprobe_check_last_run_timestamp_seconds{{{sel}}}")
               - time.time()) < 60
    phases = {s["metric"]["phase"]: float(s["value"][1])
              for s in prom.query(f"fedprobe_phase_success{{{sel}}}")}
    assert set(phases) >= {"auth", "discover", "create", "boot", "context", "mjf", "delete",
                           "gone"}
    assert all(v == 1 for v in phases.values()), phases
    assert _value(prom, 'fedprobe_vm_reachable{site="sandbox", family="ipv6"}') == 1
    assert _value(prom, 'fedprobe_vm_leaked{site="sandbox"}') == 0
    assert _value(prom, 'fedprobe_vm_boot_seconds{site="sandbox"}') > 0
    assert _value(prom, f'fedprobe_phase_duration_seconds_count{{{sel}, phase="boot"}}') >= 1
    # labels are bounded: no VM or run id anywhere
    for s in prom.query('{__name__=~"fedprobe_.+", site="sandbox"}'):
        assert set(s["metric"]) <= {"__name__", "site", "driver", "check", "phase", "family",
                                    "reason", "kind", "le", "job", "instance"}, s["metric"]
    # the broken site: CRITICAL, failing in discover, counted by reason
    bad = 'check="vm", site="broken"'
    assert _value(prom, f"fedprobe_check_status{{{bad}}}") == 2
    assert _value(prom, f"fedprobe_check_success{{{bad}}}") == 0
    assert _value(prom, f'fedprobe_check_failures_total{{{bad}, reason="discover"}}') >= 1
    assert _value(prom, f'fedprobe_phase_success{{{bad}, phase="discover"}}') == 0
    assert not prom.query(f'fedprobe_phase_success{{{bad}, phase="boot"}}')  # never ran
    assert not prom.query(f'fedprobe_phase_status{{{bad}, phase="boot"}}')   # no state either
    assert _value(prom, f'fedprobe_phase_ran{{{bad}, phase="boot"}}') == 0
    assert _value(prom, f'fedprobe_phase_ran{{{bad}, phase="discover"}}') == 1
    # every reason is there from the start: increase() sees the first failure of each
    assert _value(prom, f'fedprobe_check_failures_total{{{bad}, reason="boot"}}') == 0
    assert not prom.query('fedprobe_check_last_success_timestamp_seconds{site="broken"}')


def test_fast_checks_and_credential_expiry(stack: dict[str, Any]) -> None:
    prom: PromServer = stack["prom"]
    for check in ("keystone", "api", "proxy", "token"):
        prom.wait_for(f'fedprobe_check_success{{check="{check}", site="sandbox"}} == 1',
                      timeout=30)
    token = _value(prom, 'fedprobe_credential_expiry_timestamp_seconds{kind="token"}')
    assert abs(token - stack["token_exp"]) < 5
    proxy = _value(prom, 'fedprobe_credential_expiry_timestamp_seconds{kind="proxy"}')
    assert abs(proxy - (time.time() + 12 * 3600)) < 600
    assert prom.query('fedprobe_credential_expiry_timestamp_seconds{kind="voms_ac"}')
    steps = {s["metric"]["phase"] for s in
             prom.query('fedprobe_phase_status{check="keystone", site="sandbox"}')}
    assert {"auth", "token_lifetime", "version_compute"} <= steps
    # the exporter's own health
    assert _value(prom, 'fedprobe_exporter_workers{pool="vm"}') == 2
    assert _value(prom, "fedprobe_exporter_config_last_reload_successful") == 1
    assert _value(prom, "fedprobe_exporter_sites") == 3
    assert _value(prom, 'fedprobe_exporter_scheduling_lag_seconds_count{pool="fast"}') > 0


def test_exposition_passes_promtool(stack: dict[str, Any]) -> None:
    stack["prom"].wait_for('fedprobe_check_runs_total{check="vm"} >= 1', timeout=60)
    body = stack["exporter"].get("/metrics").text
    checked = promtool("check", "metrics", stdin=body)
    assert checked.returncode == 0 and not checked.stdout.strip() \
        and not checked.stderr.strip(), checked.stdout + checked.stderr


OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_openmetrics_when_asked_and_it_parses(stack: dict[str, Any], encoding: str) -> None:
    """Prometheus asks for OpenMetrics first: the exposition must parse as OpenMetrics (a gauge
    and a counter family of one name, as fedprobe_vm_leaked once was, would not), and hold the
    same samples as the text format."""
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as openmetrics_families,
    )
    from prometheus_client.parser import text_string_to_metric_families

    stack["prom"].wait_for('fedprobe_check_runs_total{check="vm"} >= 1', timeout=60)
    exporter: ExporterProcess = stack["exporter"]
    om = exporter.get("/metrics", headers={"Accept": OPENMETRICS,
                                           "Accept-Encoding": encoding})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert "Accept" in om.headers["Vary"]
    assert om.text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(om.text)}  # raises on any clash
    assert families["fedprobe_vm_leaks"].type == "counter"
    assert families["fedprobe_vm_leaked"].type == "gauge"
    text = exporter.get("/metrics", headers={"Accept": "text/plain;version=0.0.4"}).text

    def names(fams: Any) -> set[str]:
        return {s.name for f in fams for s in f.samples if not s.name.endswith("_created")}

    assert names(families.values()) == names(text_string_to_metric_families(text))
    probe = exporter.get("/probe?target=sandbox&check=keystone", headers={"Accept": OPENMETRICS})
    assert {f.name for f in openmetrics_families(probe.text)} >= {"probe_success",
                                                                   "fedprobe_probe_phase_ran"}


def test_every_dashboard_query_returns_data_from_the_exporter(stack: dict[str, Any]) -> None:
    prom: PromServer = stack["prom"]
    prom.wait_for('fedprobe_check_runs_total{check="vm", site="sandbox"} >= 2', timeout=60)
    prom.wait_for('fedprobe_check_runs_total{check="vm", site="broken"} >= 2', timeout=60)
    empty = []
    for title, expr in queries():
        sent = expand(expr, site_regex="sandbox|broken", range="10m", interval="5s",
                      scrape_interval="1s")
        if not prom.query(sent):
            empty.append(f"{title}: {sent}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
    # and the rules loaded and evaluate against the real series
    assert all(g.get("lastError", "") == "" for g in prom.rules()), prom.rules()


def test_status_page_logs_and_no_secret_anywhere(stack: dict[str, Any]) -> None:
    exporter: ExporterProcess = stack["exporter"]
    stack["prom"].wait_for('fedprobe_check_runs_total{check="vm", site="sandbox"} >= 1', timeout=60)
    problems = exporter.get("/")  # the default view: problems first, worst first
    assert problems.status_code == 200 and "text/html" in problems.headers["Content-Type"]
    assert "broken" in problems.text and "CRITICAL <b>" in problems.text
    page = exporter.get("/?show=all")
    for name in ("sandbox", "broken", "hang", "<td class=none>—</td>"):  # —: not scheduled
        assert name in page.text
    logs = exporter.get("/logs?site=sandbox&check=vm")
    assert logs.status_code == 200
    assert "boot" in logs.text and "gone" in logs.text and "OK" in logs.text
    broken = exporter.get("/logs?site=broken&check=vm").text
    assert "no-such-image" in broken
    assert exporter.get("/logs?site=nowhere&check=vm").status_code == 404
    for text in (page.text, logs.text, broken, exporter.get("/metrics").text, exporter.text()):
        assert CANARY not in text
    assert exporter.get("/-/healthy").status_code == 200
    assert exporter.get("/-/ready").status_code == 200
    assert exporter.get("/nothing").status_code == 404


def test_probe_endpoint(stack: dict[str, Any]) -> None:
    exporter: ExporterProcess = stack["exporter"]
    ok = exporter.get("/probe?target=sandbox&check=keystone")
    assert ok.status_code == 200 and "probe_success 1.0" in ok.text, ok.text
    api = exporter.get("/probe?target=sandbox&module=api")  # blackbox's parameter name too
    assert "probe_success 1.0" in api.text
    vm = exporter.get("/probe?target=sandbox&check=vm")
    assert vm.status_code == 400 and "schedule" in vm.text
    assert exporter.get("/probe?target=sandbox&check=ping").status_code == 400
    missing = exporter.get("/probe?target=nowhere&check=keystone")
    assert missing.status_code == 400 and "nowhere" in missing.text
    # a Keystone that never answers: the answer comes within the scrape timeout, as a failure
    start = time.monotonic()
    hung = exporter.get("/probe?target=hang&check=keystone",
                        headers={"X-Prometheus-Scrape-Timeout-Seconds": "4"})
    took = time.monotonic() - start
    assert hung.status_code == 200 and "probe_success 0.0" in hung.text, hung.text
    assert took < 4.0, f"/probe answered after {took:.1f}s, past the 4 s scrape timeout"
    # ... and the check had the scrape's time but the margin, not a VM run's cleanup share
    assert took > 3.0, f"/probe gave the check only {took:.1f}s of a 4 s scrape timeout"
    bad = exporter.get("/probe?target=sandbox&check=keystone",
                       headers={"X-Prometheus-Scrape-Timeout-Seconds": "soon"})
    assert bad.status_code == 400


def test_metrics_never_wait_for_a_check(stack: dict[str, Any]) -> None:
    """Scrapes copy cached results: fast while a check hangs, and they run nothing."""
    prom: PromServer = stack["prom"]
    exporter: ExporterProcess = stack["exporter"]
    # the hanging Keystone: its runs end at their deadline, as timeouts
    found = prom.wait_for('fedprobe_check_failures_total{site="hang", check="keystone"} > 0',
                          timeout=30)
    assert {s["metric"]["reason"] for s in found} == {"timeout"}, found
    assert _value(prom, 'fedprobe_check_status{site="hang", check="keystone"}') == 2

    def runs() -> float:
        m = re.search(r'fedprobe_check_runs_total\{check="keystone",driver="openstack",'
                      r'site="sandbox"\} (\S+)', exporter.get("/metrics").text)
        assert m
        return float(m.group(1))

    before = runs()
    times = []
    for _ in range(50):
        start = time.monotonic()
        assert exporter.get("/metrics").status_code == 200
        times.append(time.monotonic() - start)
    after = runs()
    assert max(times) < 0.5, f"slowest scrape {max(times):.3f}s"
    # the schedule (every 2 s) ran at most a few times meanwhile; 50 scrapes ran nothing
    assert after - before <= 2 + sum(times) / 2, (before, after, sum(times))


def test_bad_config_at_startup_is_one_line(tmp_path: Path, shared: Sandbox) -> None:
    (tmp_path / "sites.yaml").write_text(shared.sites_yaml.read_text())
    config = _exporter_config(tmp_path / "exporter.yaml", "sites.yaml",
                              checks={"vm": {"interval": -5}})
    proc = subprocess.run([sys.executable, "-m", "probes", "exporter", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "interval" in lines[0] and "-5" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_reload_rejects_a_bad_config_and_keeps_the_old(tmp_path: Path, shared: Sandbox) -> None:
    (tmp_path / "sites.yaml").write_text(shared.sites_yaml.read_text())
    checks = {"vm": {"enabled": False}, "keystone": {"interval": 1}, "api": {"enabled": False}}
    config = _exporter_config(tmp_path / "exporter.yaml", "sites.yaml", checks=checks,
                              sites={"sandbox": None})
    exporter = ExporterProcess(config, tmp_path / "exporter.log")
    try:
        good = config.read_text()
        config.write_text(good.replace("keystone:\n    interval: 1",
                                       "keystone:\n    interval: 1\n    colour: blue"))
        resp = exporter.http.post(exporter.url + "/-/reload", timeout=30)
        assert resp.status_code == 500 and "colour" in resp.text, resp.text
        assert "config reload rejected" in exporter.text()
        metrics = exporter.get("/metrics").text
        assert "fedprobe_exporter_config_last_reload_successful 0.0" in metrics
        assert "colour" in exporter.get("/").text  # the status page says so too
        # the old config still runs: keystone results keep coming
        time.sleep(2.5)
        runs = re.search(r'fedprobe_check_runs_total\{check="keystone"[^}]*\} (\S+)',
                         exporter.get("/metrics").text)
        assert runs and float(runs.group(1)) >= 1
        # SIGHUP with a good config that adds a site
        config.write_text(good.replace("sandbox: null", "sandbox: null\n  sandbox-appcred: null"))
        exporter.proc.send_signal(signal.SIGHUP)
        end = time.monotonic() + 15
        while "sandbox-appcred" not in exporter.get("/metrics").text:
            assert time.monotonic() < end, exporter.text()
            time.sleep(0.2)
        assert "fedprobe_exporter_config_last_reload_successful 1.0" in \
            exporter.get("/metrics").text
        assert exporter.proc.poll() is None
    finally:
        assert exporter.stop() == 0


def test_sigterm_lets_a_running_vm_probe_delete_its_vm(tmp_path: Path) -> None:
    sb = Sandbox(make_config(faults={"latency": {"boot": 30}})).start()
    exporter = None
    try:
        (tmp_path / "sites.yaml").write_text(sb.sites_yaml.read_text())
        config = _exporter_config(tmp_path / "exporter.yaml", "sites.yaml", sites={
            "sandbox": None}, checks={"vm": {"interval": 1, "timeout": 120},
                                      "keystone": {"enabled": False},
                                      "api": {"enabled": False}})
        exporter = ExporterProcess(config, tmp_path / "exporter.log")
        api = Api(sb)
        end = time.monotonic() + 30
        while not api.get("/compute/v2.1/servers").json()["servers"]:
            assert time.monotonic() < end, exporter.text()
            time.sleep(0.1)
        start = time.monotonic()
        assert exporter.stop(signal.SIGTERM) == 0, exporter.text()
        assert time.monotonic() - start < 30
        assert api.get("/compute/v2.1/servers").json()["servers"] == []
        assert "stopping" in exporter.text()
        assert "stopped cleanly after SIGTERM: every running check ended" in exporter.text()
    finally:
        if exporter is not None:
            exporter.stop(signal.SIGKILL)
        sb.stop()


def _vm_oneshot(sb: Sandbox, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": pythonpath(ROOT)}
    return subprocess.run([sys.executable, "-m", "probes", "vm", "--sites", str(sb.sites_yaml),
                           "--site", "sandbox", "-t", "60", *extra], capture_output=True,
                          text=True, timeout=90, cwd=ROOT, env=env, check=False)


def test_textfile_results_reach_prometheus_through_node_exporter(tmp_path: Path,
                                                                  shared: Sandbox) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    done = _vm_oneshot(shared, "--textfile", str(textfiles))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in textfiles.iterdir()] == ["fedprobe_vm_sandbox.prom"]
    assert CANARY not in (textfiles / "fedprobe_vm_sandbox.prom").read_text()
    with start_node_exporter(tmp_path, textfiles) as node:
        job = scrape_config("node", [node.url.removeprefix("http://")])
        with start_prometheus(tmp_path, [], extra_scrape_configs=[job]) as prom:
            found = prom.wait_for('fedprobe_check_status{job="node", check="vm", '
                                  'site="sandbox"}', timeout=30)
            assert float(found[0]["value"][1]) == 0
            assert prom.query('fedprobe_phase_last_duration_seconds{job="node", phase="boot"}')
            # node_exporter read the file without complaint
            assert float(prom.query('node_textfile_scrape_error{job="node"}')[0]["value"][1]) \
                == 0


def test_pushgateway_results_reach_prometheus(tmp_path: Path, shared: Sandbox) -> None:
    with start_pushgateway(tmp_path) as gateway:
        done = _vm_oneshot(shared, "--pushgateway", gateway.url)
        assert done.returncode == 0 and "could not" not in done.stdout, done.stdout
        job = scrape_config("pushgateway", [gateway.url.removeprefix("http://")],
                            honor_labels=True)
        with start_prometheus(tmp_path, [], extra_scrape_configs=[job]) as prom:
            found = prom.wait_for('fedprobe_check_success{job="fedprobe_vm", site="sandbox"}',
                                  timeout=30)
            assert float(found[0]["value"][1]) == 1
            assert prom.query('fedprobe_vm_reachable{job="fedprobe_vm", family="ipv4"}')
    # a Pushgateway that is down: the verdict stands, one line says the push failed
    down = _vm_oneshot(shared, "--pushgateway", "http://127.0.0.1:1")
    assert down.returncode == 0
    assert "could not push to --pushgateway http://127.0.0.1:1" in down.stdout


def test_a_sigkilled_exporter_leaves_no_vm_and_its_successor_cleans_its_ledger(
        tmp_path: Path) -> None:
    from probes.runner.identity import machine_id
    from probes.runner.ledger import Entry, Ledger
    from probes.runner.statedir import prepare

    sb = Sandbox(make_config(faults={"latency": {"boot": 30}})).start()
    state = prepare(tmp_path / "state")
    exporter = None
    try:
        (tmp_path / "sites.yaml").write_text(sb.sites_yaml.read_text())
        checks = {"vm": {"interval": 1, "timeout": 120}, "keystone": {"enabled": False},
                  "api": {"enabled": False}}
        config = _exporter_config(tmp_path / "exporter.yaml", "sites.yaml",
                                  sites={"sandbox": None}, checks=checks,
                                  state_dir=str(state))
        exporter = ExporterProcess(config, tmp_path / "exporter.log")
        api = Api(sb)
        end = time.monotonic() + 30
        while not sb.live_servers():
            assert time.monotonic() < end, exporter.text()
            time.sleep(0.1)
        exporter.stop(signal.SIGKILL)  # no cleanup of its own: its run's guardian's job
        end = time.monotonic() + 15
        while sb.live_servers():
            assert time.monotonic() < end, "the killed exporter's VM stayed"
            time.sleep(0.1)
        # A VM the ledger says an ended run left (its delete failed, say), and one of another
        # machine's ledger: the next exporter removes the first at start-up, before any run
        # (discovery fails in every run here: no run's sweep can be the one that removed it).
        auth_url = yaml.safe_load(sb.sites_yaml.read_text())["sites"]["sandbox"]["auth"]["auth_url"]
        tags = {"fedprobe.host": "exporter-test", "fedprobe.machine": machine_id(state),
                "fedprobe.probe": "vm", "fedprobe.run": "dead-run"}
        left = api.create_server("fedprobe-exporter-test-dead-run", metadata=tags)
        sid = left.json()["server"]["id"]
        project = api.server(sid)["tenant_id"]
        Ledger(state, "sandbox").put(Entry("dead-run", "sandbox", f"{auth_url}#{project}",
                                           "exporter", 1, time.time() - 60, time.time() - 30,
                                           "leaked", sid))
        other = api.create_server("fedprobe-exporter-test-other", metadata={
            **tags, "fedprobe.machine": "0000000000000001", "fedprobe.run": "r"}).json()
        sb.set_faults(errors={"images": {"status": 503}})
        exporter = ExporterProcess(config, tmp_path / "exporter2.log")
        end = time.monotonic() + 20
        while sid in {s["id"] for s in sb.live_servers()}:
            assert time.monotonic() < end, exporter.text()
            time.sleep(0.1)
        assert {s["id"] for s in sb.live_servers()} == {other["server"]["id"]}
        end = time.monotonic() + 10
        while "removed VM" not in exporter.text():
            assert time.monotonic() < end, exporter.text()
            time.sleep(0.1)
        assert Ledger(state, "sandbox").entries() == []
    finally:
        if exporter is not None:
            exporter.stop(signal.SIGKILL)
        sb.stop()
