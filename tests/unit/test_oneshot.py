"""One-shot output of a VM run: the textfile (complete or absent, never half-written, no temporary
files left) and the Pushgateway push; a failure to publish is a line, never an exception."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.model import CRITICAL, OK
from exporters.oneshot import publish, textfile_path
from probes.config.site import parse as parse_site
from probes.runner.result import PHASES, LifecycleResult, Outcome, Phase

SITE = parse_site({
    "name": "S-1", "image": {"name": "cirros"},
    "auth": {"type": "password", "auth_url": "https://k.example.org/v3", "username": "u",
             "password": "pw", "project_name": "p"}})


def lifecycle(boot: Outcome = Outcome.PASSED) -> LifecycleResult:
    phases = []
    for i, name in enumerate(PHASES):
        outcome = boot if name == "boot" else Outcome.PASSED
        if boot != Outcome.PASSED and name in ("reach_v4", "reach_v6", "context", "mjf"):
            outcome = Outcome.SKIPPED
        phases.append(Phase(name, outcome, "x", None if outcome == Outcome.SKIPPED else i + 0.5))
    return LifecycleResult("S-1", "openstack", "r", tuple(phases), 30.0, "srv")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def status(text: str) -> float:
    got = samples(text)
    return got["fedprobe_check_status", (("check", "vm"), ("driver", "openstack"),
                                         ("site", "S-1"))]


def test_textfile(tmp_path: Path) -> None:
    assert publish(lifecycle(), SITE, 1000.0, tmp_path, None) == []
    assert os.listdir(tmp_path) == ["fedprobe_vm_S-1.prom"]  # no temporary file left
    text = (tmp_path / "fedprobe_vm_S-1.prom").read_text()
    assert status(text) == OK
    names = {name for name, _ in samples(text)}
    assert "fedprobe_vm_boot_seconds" in names and "fedprobe_phase_status" in names
    assert not {n for n in names if n.endswith("_total")}
    assert publish(lifecycle(Outcome.FAILED), SITE, 2000.0, tmp_path, None) == []
    assert status((tmp_path / "fedprobe_vm_S-1.prom").read_text()) == CRITICAL
    assert os.listdir(tmp_path) == ["fedprobe_vm_S-1.prom"]


def test_textfile_names_are_safe(tmp_path: Path) -> None:
    assert textfile_path(tmp_path, "CESNET-MCC") == tmp_path / "fedprobe_vm_CESNET-MCC.prom"
    assert textfile_path(tmp_path, "../a b/c") == tmp_path / "fedprobe_vm_.._a_b_c.prom"


def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    results = [lifecycle(), lifecycle(Outcome.FAILED)]  # two different sizes
    whole = set()
    for n, result in enumerate(results):
        out = tmp_path / f"ref{n}"
        out.mkdir()
        publish(result, SITE, 1000.0, out, None)
        whole.add((out / "fedprobe_vm_S-1.prom").read_text())
    assert len(whole) == 2
    live = tmp_path / "live"
    live.mkdir()
    publish(results[0], SITE, 1000.0, live, None)
    path = live / "fedprobe_vm_S-1.prom"
    stop = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            seen.append(path.read_text())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(100):
            assert publish(results[n % 2], SITE, 1000.0, live, None) == []
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 50 and set(seen) == whole  # saw both, and only ever whole files
    assert os.listdir(live) == ["fedprobe_vm_S-1.prom"]


def test_unwritable_textfile_directory_is_a_problem_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    (problem,) = publish(lifecycle(), SITE, 0.0, missing, None)
    assert problem == (f"could not write --textfile {missing / 'fedprobe_vm_S-1.prom'}: "
                       "No such file or directory")
    a_file = tmp_path / "file"
    a_file.write_text("")
    (problem,) = publish(lifecycle(), SITE, 0.0, a_file, None)
    assert problem.startswith(f"could not write --textfile {a_file}/") and "\n" not in problem


def test_unreachable_pushgateway_is_a_problem_line(tmp_path: Path) -> None:
    problems = publish(lifecycle(), SITE, 0.0, tmp_path, "http://127.0.0.1:1", timeout=2.0)
    (problem,) = problems
    assert problem.startswith("could not push to --pushgateway http://127.0.0.1:1: ")
    assert "refused" in problem.lower() and "\n" not in problem
    assert (tmp_path / "fedprobe_vm_S-1.prom").is_file()  # the textfile is written anyway


class FakeGateway(BaseHTTPRequestHandler):
    """Records each push; answers with the class's status."""

    answer = 200
    pushes: list[tuple[str, str, bytes]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.pushes.append(("PUT", self.path, body))
        self.send_response(self.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, type[FakeGateway]]]:
    handler = type("Gateway", (FakeGateway,), {"pushes": [], "answer": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_push_to_gateway(gateway: tuple[str, type[FakeGateway]]) -> None:
    url, handler = gateway
    assert publish(lifecycle(), SITE, 0.0, None, url) == []
    ((method, path, body),) = handler.pushes
    assert (method, path) == ("PUT", "/metrics/job/fedprobe_vm/site/S-1")
    assert status(body.decode()) == OK


def test_pushgateway_refusing_is_a_problem_line(gateway: tuple[str, type[FakeGateway]]) -> None:
    url, handler = gateway
    handler.answer = 500
    (problem,) = publish(lifecycle(), SITE, 0.0, None, url)
    assert problem.startswith(f"could not push to --pushgateway {url}: ")
    assert "\n" not in problem
