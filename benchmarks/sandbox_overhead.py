"""The sandbox's own overhead: per API request and per create -> ACTIVE -> delete -> gone cycle
of a process guest, with zero injected latency.

Goals (issue 3): < 50 ms per API request, < 1 s per process-guest cycle.

To make the figures meaningful on a noisy machine, each is also printed as a ratio against a
baseline measured in the same run: a bare HTTP round trip to a minimal WSGI app on the same
server stack (cheroot, loopback, keep-alive). A ratio near 1 means the sandbox adds little
over the transport itself.

Run: .venv/bin/python benchmarks/sandbox_overhead.py [--requests N] [--cycles N]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
from cheroot import wsgi

from probes.sandbox import Sandbox, SandboxConfig


def _bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def _timed(fn: Callable[[], Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _report(name: str, samples: list[float], baseline: float, goal: float) -> bool:
    p50, p99 = statistics.median(samples), _pct(samples, 0.99)
    ok = p99 < goal
    print(f"  {name:<34} p50 {p50 * 1000:8.2f} ms  p99 {p99 * 1000:8.2f} ms  "
          f"x{p50 / baseline:6.1f} baseline  goal < {goal * 1000:.0f} ms: "
          f"{'met' if ok else 'MISSED'}")
    return ok


def _baseline(n: int) -> float:
    srv = wsgi.Server(("127.0.0.1", 0), _bare_app, numthreads=16)
    srv.prepare()
    thread = threading.Thread(target=srv.serve, daemon=True)
    thread.start()
    try:
        session = requests.Session()
        url = f"http://127.0.0.1:{srv.bind_addr[1]}/"
        _timed(lambda: session.get(url), 20)
        return statistics.median(_timed(lambda: session.get(url), n))
    finally:
        srv.stop()


def main() -> int:
    """Measure and print; exit 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    base = _baseline(args.requests)
    print(f"baseline: bare WSGI round trip (cheroot) p50 {base * 1000:.2f} ms "
          f"({args.requests} requests)")
    config = SandboxConfig.model_validate({"guests": {"kind": "process"}, "delete_delay": 0})
    ok = True
    with Sandbox(config) as sb:
        session = requests.Session()
        auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "demo", "domain": {"id": "default"}, "password": "sandbox-demo-pw"}}},
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
        token = session.post(sb.auth_url + "/auth/tokens", json=auth).headers["X-Subject-Token"]
        session.headers.update({"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"})
        compute = sb.base_url + "/compute/v2.1"
        calls = {
            "keystone POST /v3/auth/tokens": lambda: session.post(sb.auth_url + "/auth/tokens",
                                                                  json=auth),
            "nova GET /flavors/detail": lambda: session.get(compute + "/flavors/detail"),
            "nova GET /servers/detail": lambda: session.get(compute + "/servers/detail"),
            "glance GET /v2/images": lambda: session.get(sb.base_url + "/image/v2/images"),
            "neutron GET /v2.0/networks": lambda: session.get(
                sb.base_url + "/networking/v2.0/networks"),
        }
        print("per request (sandbox, zero injected latency):")
        for name, call in calls.items():
            _timed(call, 10)
            ok &= _report(name, _timed(call, args.requests), base, 0.050)
        images = session.get(sb.base_url + "/image/v2/images?name=cirros-0.6.2-x86_64").json()
        nets = session.get(sb.base_url + "/networking/v2.0/networks?name=demo-net").json()
        body = {"server": {"name": "bench", "imageRef": images["images"][0]["id"],
                           "flavorRef": "42", "networks": [{"uuid": nets["networks"][0]["id"]}],
                           "user_data": base64.b64encode(b"#!/bin/sh\necho up\n").decode()}}

        def cycle() -> None:
            sid = session.post(compute + "/servers", json=body).json()["server"]["id"]
            while session.get(f"{compute}/servers/{sid}").json()["server"]["status"] != "ACTIVE":
                time.sleep(0.005)
            session.delete(f"{compute}/servers/{sid}")
            while session.get(f"{compute}/servers/{sid}").status_code != 404:
                time.sleep(0.005)

        cycle()
        print("per process-guest cycle (create -> ACTIVE -> delete -> 404, 5 ms polling):")
        ok &= _report("create->ACTIVE->delete->gone", _timed(cycle, args.cycles), base, 1.0)
        leftovers = len(sb.live_servers())
    print(f"servers left in the sandbox: {leftovers}")
    return 0 if ok and leftovers == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
