"""Real Prometheus, Pushgateway and promtool for tests: servers on 127.0.0.1 on free ports, their
files in a tmp directory, always stopped — and killed with the test process should it die."""

from __future__ import annotations

import ctypes
import ipaddress
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import pytest
import requests
import yaml

from probes import programs

_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
_PR_SET_PDEATHSIG = 1


class PromQueryError(Exception):
    """Prometheus answered a query with an error (bad expression, timeout, ...)."""


def find_binary(*names: str) -> str:
    """The first of the names found on PATH; the test fails when none is (a missing server is
    a broken set-up, not a reason to prove nothing)."""
    for name in names:
        path = programs.which(name)
        if path:
            return path
    pytest.fail(f"{programs.not_found(names[0])} (dev/system-deps does; make test runs it)")


def _env() -> dict[str, str]:
    """Our environment less proxy settings: everything here talks to loopback."""
    return {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}


def _die_with_parent() -> None:
    """In the child: the kernel sends SIGTERM when the test process dies (even by SIGKILL).
    Strictly, when the thread that started it ends: start servers from the test's own thread."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_loopback(target: str) -> str:
    """The target (host:port) unchanged if its host is a loopback address, else ValueError."""
    host = target.rsplit(":", 1)[0].strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"{target!r}: tests scrape loopback addresses only")
    return target


def scrape_config(job: str, targets: Sequence[str], *, metrics_path: str = "/metrics",
                  honor_labels: bool = False) -> dict[str, Any]:
    """One static scrape job (loopback targets only), e.g. for extra_scrape_configs."""
    return {"job_name": job, "metrics_path": metrics_path, "honor_labels": honor_labels,
            "static_configs": [{"targets": [check_loopback(t) for t in targets]}]}


def _checked(config: Mapping[str, Any]) -> dict[str, Any]:
    """A caller's scrape config, refused unless it only names static loopback targets."""
    if any(key.endswith("_sd_configs") or key == "proxy_url" for key in config):
        raise ValueError(f"scrape config {config.get('job_name')!r}: static targets only")
    for group in config.get("static_configs", ()):
        for target in group.get("targets", ()):
            check_loopback(target)
    return dict(config)


class _Server:
    """A server process on 127.0.0.1 with its log file; stop() or a with block ends it."""

    ready_path = "/-/ready"

    def __init__(self, name: str, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.name, self.process, self.url, self.log = name, process, url, log
        self.session = requests.Session()
        self.session.trust_env = False  # the environment's proxies and CA bundle are not for us

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for error messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ready_path until it answers 200; RuntimeError (with the log) if it exits or
        hangs."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n"
                                   f"{self.log_tail()}")
            try:
                if self.session.get(f"{self.url}{self.ready_path}", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate the server (kill it if it lingers) and wait for it."""
        self.session.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class PromServer(_Server):
    """A running Prometheus and its HTTP API."""

    def _api(self, endpoint: str, params: Mapping[str, str]) -> Any:
        resp = self.session.post(f"{self.url}/api/v1/{endpoint}", data=params, timeout=30)
        try:
            body = resp.json()
        except ValueError:
            raise PromQueryError(f"{params.get('query')}: HTTP {resp.status_code}: "
                                 f"{resp.text[:200]}") from None
        if body.get("status") != "success":
            raise PromQueryError(f"{params.get('query')}: {body.get('errorType')}: "
                                 f"{body.get('error')}")
        return body["data"]

    @staticmethod
    def _series(data: Mapping[str, Any]) -> list[dict[str, Any]]:
        if data["resultType"] in ("vector", "matrix"):
            return list(data["result"])
        return [{"metric": {}, "value": data["result"]}]  # scalar or string: one unlabelled item

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query (/api/v1/query): the result's items; PromQueryError on an error status."""
        params = {"query": expr} if at is None else {"query": expr, "time": repr(at)}
        return self._series(self._api("query", params))

    def query_range(self, expr: str, start: float | None = None, end: float | None = None,
                    step: float = 1.0) -> list[dict[str, Any]]:
        """Range query (/api/v1/query_range), by default over the last minute."""
        end = time.time() if end is None else end
        start = end - 60 if start is None else start
        params = {"query": expr, "start": repr(start), "end": repr(end), "step": repr(step)}
        return self._series(self._api("query_range", params))

    def wait_for(self, expr: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Poll the instant query until it returns something; TimeoutError with the last result."""
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expr}: still empty after {timeout}s (last result "
                                   f"{result!r}); targets: {self.targets()}")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets with their health and last error."""
        resp = self.session.get(f"{self.url}/api/v1/targets", timeout=10)
        return [{k: t.get(k) for k in ("scrapeUrl", "health", "lastError")}
                for t in resp.json()["data"]["activeTargets"]]

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (/api/v1/rules), flattened out of its group."""
        resp = self.session.get(f"{self.url}/api/v1/rules", timeout=10)
        return [rule for group in resp.json()["data"]["groups"] for rule in group["rules"]]


class PushGateway(_Server):
    """A running Pushgateway."""


class NodeExporter(_Server):
    """A running node_exporter serving only its textfile collector."""

    ready_path = "/metrics"  # node_exporter 1.5 has no /-/ready


S = TypeVar("S", bound=_Server)


def _spawn(name: str, command: Callable[[int], list[str]], workdir: Path) -> tuple[
        subprocess.Popen[bytes], str, Path]:
    """Start command(port) on a free port, its output in workdir/NAME.log."""
    port = _free_port()
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command(port), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=workdir, env=_env(),
                                   preexec_fn=_die_with_parent)
    return process, f"http://127.0.0.1:{port}", log


def _start(cls: type[S], name: str, command: Callable[[int], list[str]], workdir: Path) -> S:
    """Start the server and wait until ready; retry on a port taken meanwhile; never leak it."""
    for attempt in range(3):
        server = cls(name, *_spawn(name, command, workdir))
        try:
            server.wait_ready()
            return server
        except BaseException:
            server.stop()
            if attempt == 2 or "address already in use" not in server.log_tail():
                raise
    raise AssertionError("unreachable")


def start_prometheus(tmp_dir: Path, scrape_targets: Sequence[str], scrape_interval: str = "1s",
                     rule_files: Sequence[Path] = (),
                     extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
                     job: str = "fedprobe") -> PromServer:
    """Prometheus on 127.0.0.1 scraping the targets (job `job`) and evaluating the rule files
    every scrape_interval, with its config and TSDB in a new directory under tmp_dir. Its first
    scrape comes about 5 s after start (Prometheus applies new targets on a 5 s tick)."""
    jobs = [scrape_config(job, scrape_targets)] if scrape_targets else []
    jobs += [_checked(c) for c in extra_scrape_configs]
    binary = find_binary("prometheus")
    workdir = Path(tempfile.mkdtemp(prefix="prometheus-", dir=tmp_dir))
    config = {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                   "evaluation_interval": scrape_interval},
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": jobs,
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def command(port: int) -> list[str]:
        return [binary, f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1d", "--log.level=warn"]

    return _start(PromServer, "prometheus", command, workdir)


def start_pushgateway(tmp_dir: Path) -> PushGateway:
    """A Pushgateway on 127.0.0.1, its log and persistence file in a new directory under tmp_dir
    (Debian's build persists to /var/lib/prometheus/pushgateway.data by default: another run's
    pushes would come back)."""
    binary = find_binary("prometheus-pushgateway", "pushgateway")
    workdir = Path(tempfile.mkdtemp(prefix="pushgateway-", dir=tmp_dir))

    def command(port: int) -> list[str]:
        return [binary, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                f"--persistence.file={workdir / 'pushgateway.data'}"]

    return _start(PushGateway, "pushgateway", command, workdir)


def start_node_exporter(tmp_dir: Path, textfile_dir: Path) -> NodeExporter:
    """node_exporter on 127.0.0.1 with every collector off but the textfile one reading
    textfile_dir: what a site runs to pick up `fedprobe vm --textfile` results."""
    binary = find_binary("prometheus-node-exporter", "node_exporter")
    workdir = Path(tempfile.mkdtemp(prefix="node-exporter-", dir=tmp_dir))

    def command(port: int) -> list[str]:
        return [binary, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                "--collector.disable-defaults", "--collector.textfile",
                f"--collector.textfile.directory={textfile_dir}"]

    return _start(NodeExporter, "node-exporter", command, workdir)


def promtool(*args: str, stdin: str | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run promtool with the arguments (text output captured, exit status not checked)."""
    return subprocess.run([find_binary("promtool"), *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=_env(), check=False)


class ExpositionServer:
    """Serves render()'s text at http://127.0.0.1:PORT/metrics: a scrape target a test made up."""

    def __init__(self, render: Callable[[], str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = render().encode()
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.target = f"127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
