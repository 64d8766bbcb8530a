"""The exporter at scale: N sites (default 1000) of the sandbox cloud, Keystone and API checks
every 60 s, the VM probe on every site every 900 s through the bounded VM pool (2 workers),
for --duration seconds while /metrics is scraped every --scrape-every seconds.

Goals (issue): exporter RSS <= 200 MB; /metrics p99 <= 50 ms under that load. Our bar for "the
checks keep up": >= 95 % of the runs due in the window start in it (due = started + queue growth
+ skipped, from the exporter's own live series); the nominal schedule (sum of 1/interval) is
printed beside it. Also printed: scheduling lag, queue depth, exposition size, CPU per process,
and a steady-state projection — every series run, history full, as a run of minutes cannot make
it — through the exporter's own render path: exposition size, render time, memory.

The sandbox and the exporter each run as their own process (`fedprobe sandbox`, `fedprobe
exporter`), so RSS and CPU figures are the exporter's own; this process writes the configs,
measures the baselines, scrapes (as Prometheus does: keep-alive, asking for gzip) and reports.
Figures are taken over the second half of the run (the first runs are spread over the first
interval).

Baselines measured in the same run: /-/healthy on the same server, requested alternately with
/metrics (transport and GIL wait under the same load); one check of each kind run
single-threaded from this process before the load (what one scheduled run costs).

Run: .venv/bin/python benchmarks/exporter_scale.py [--sites 1000] [--duration 180]
     smoke: --sites 100 --duration 30
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import gzip
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from exporters import config as cfg
from exporters.app import Exporter
from exporters.model import CheckRun
from exporters.runchecks import deadlines, run_check
from exporters.scheduler import POOLS

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
# What Prometheus 2.42 (Debian 12) sends, captured: OpenMetrics first, gzip.
PROM_HEADERS = {"Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-"
                          "text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                "Accept-Encoding": "gzip"}


# -- processes -----------------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child: SIGTERM when this benchmark dies, even by SIGKILL (no orphan servers)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "probes", *args], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
                                env=env, preexec_fn=_die_with_parent)


def _wait_for(what: str, proc: subprocess.Popen[bytes], log: Path, ready: Any,
              timeout: float = 120.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = ready()
        if found:
            return found
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout:.0f}s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ProcStats:
    """RSS and CPU seconds of one process (and its reaped children), from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def status_mb(self, key: str) -> float:
        """VmRSS, VmHWM, ... in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu(self) -> float:
        """utime + stime + cutime + cstime, seconds."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


# -- the configs ---------------------------------------------------------------------------------
def write_configs(workdir: Path, sandbox_sites: Path, args: argparse.Namespace) -> Path:
    """N sites, all the sandbox's demo login; the exporter config scheduling them."""
    data = yaml.safe_load(sandbox_sites.read_text())
    auth = data["sites"]["sandbox"]["auth"]
    names = [f"site-{i:04d}" for i in range(args.sites)]
    data["sites"] = {name: {"auth": dict(auth)} for name in names}
    (workdir / "sites.yaml").write_text(yaml.dump(data, Dumper=yaml.CSafeDumper))
    vm_on = set(names[:args.vm_sites])
    config = {
        "listen": ["127.0.0.1:0"], "sites_file": "sites.yaml", "shutdown_grace": 30,
        "monitoring_host": "exporter-scale",
        "workers": {"vm": args.vm_workers, "fast": args.fast_workers},
        "checks": {"keystone": {"interval": args.fast_interval},
                   "api": {"interval": args.api_interval},
                   "vm": {"interval": args.vm_interval, "enabled": False}},
        "sites": {n: ({"vm": {"enabled": True}} if n in vm_on else None) for n in names},
    }
    path = workdir / "exporter.yaml"
    path.write_text(yaml.dump(config, Dumper=yaml.CSafeDumper))
    return path


# -- baselines and the steady-state projection (in this process, before the load) -------------
def check_costs(config: cfg.ExporterConfig, n: int) -> dict[str, tuple[float, float, CheckRun]]:
    """Per check kind: median wall and CPU (this process: the exporter's side) of one run."""
    from probes.runner.custody import make

    custody = make("exporter", "exporter-scale-baseline", None, os.environ)
    out = {}
    for check, times in (("keystone", n), ("api", n), ("vm", 3)):
        job = next((j for j in config.jobs if j.check == check), None)
        job = job or cfg.Job(config.jobs[0].site, check, cfg.options_for(
            config, config.jobs[0].site, check))
        walls, cpus = [], []
        for _ in range(times):
            w0, c0 = time.perf_counter(), time.process_time()
            run = run_check(job, config, custody, *deadlines(60))
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            if not run.success:
                raise RuntimeError(f"baseline {check} run failed: {run.summary}")
        out[check] = (statistics.median(walls), statistics.median(cpus), run)
    return out


def _copy(run: CheckRun, site: str, i: int) -> CheckRun:
    """The run as another site's: every string its own object, as real runs' are."""
    return dataclasses.replace(run, site=site, summary=run.summary.replace("sandbox", site),
                               log=f"{run.log} #{i}")


def _filled(path: Path, runs: dict[str, CheckRun]) -> Exporter:
    """An exporter (not started) whose store holds every series with its history full."""
    x = Exporter(path)
    for i in range(x.config.file.history):
        for j in x.config.jobs:
            x.store.record(_copy(runs[j.check], j.site, i), only_scheduled=True)
    return x


def projection(path: Path, runs: dict[str, CheckRun], per_second: float) -> dict[str, float]:
    """Steady state through the exporter's own render path (its private _render, as its
    renderer thread calls it): every series run, history full. Times a first render and
    renders after a second's worth of new results; then the memory."""
    x = _filled(path, runs)
    start = time.perf_counter()
    x._render()
    first = time.perf_counter() - start
    again = []
    for i in range(3):
        for j in random.choices(x.config.jobs, [1 / j.options.interval for j in x.config.jobs],
                                k=round(per_second)):  # what a second of the schedule brings
            x.store.record(_copy(runs[j.check], j.site, -1 - i), only_scheduled=True)
        start = time.perf_counter()
        x._render()
        again.append(time.perf_counter() - start)
    body = x.metrics()
    del x
    tracemalloc.start()
    x = _filled(path, runs)
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    x._render()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"kept_mb": kept / MB, "held_mb": (held - kept) / MB, "peak_mb": (peak - held) / MB,
            "bytes": len(body), "samples": samples(body), "first_s": first,
            "again_s": statistics.median(again)}


# -- the steady state, measured -------------------------------------------------------------------
def _steady_child(path: Path, runs: dict[str, CheckRun], per_second: float,
                  ready: Any) -> None:
    """In a child process of its own: the exporter with every series run and its history full (the
    pre-created zero series too), its own renderer thread and HTTP server, fed a second's worth
    of new results every second, as the schedule brings them. It never returns."""
    from exporters.server import HttpServers
    from exporters.web import WebApp

    x = _filled(path, runs)
    x._render()
    threading.Thread(target=x._renderer, name="fedprobe-render", daemon=True).start()
    servers = HttpServers(("127.0.0.1:0",), WebApp(x))
    servers.start()
    ready.send(servers.addresses[0][1])
    weights = [1 / j.options.interval for j in x.config.jobs]
    i = 0
    while True:
        t0 = time.monotonic()
        for j in random.choices(x.config.jobs, weights, k=round(per_second)):
            i += 1
            x.store.record(_copy(runs[j.check], j.site, 1000 + i), only_scheduled=True)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))


def steady_state(path: Path, runs: dict[str, CheckRun], per_second: float, duration: float,
                 every: float) -> dict[str, float]:
    """RSS of that child over `duration` seconds of incremental renders (sampled each second:
    does it plateau?) and /metrics latency as Prometheus scrapes it meanwhile."""
    # spawn, not fork: a forked child's RSS would count this process's pages too
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_steady_child, args=(path, runs, per_second, child), daemon=True)
    proc.start()
    try:
        if not parent.poll(600):
            raise RuntimeError("the steady-state exporter did not start")
        port = parent.recv()
        stats = ProcStats(proc.pid or 0)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rss, totals = [], []
        start = time.monotonic()
        next_rss = start
        while (now := time.monotonic()) < start + duration:
            totals.append(_get(conn, "/metrics")[1])
            if now >= next_rss:
                rss.append(stats.status_mb("VmRSS"))
                next_rss += 1.0
            time.sleep(max(0.0, now + every - time.monotonic()))
        conn.close()
        hwm = stats.status_mb("VmHWM")
    finally:
        proc.kill()
        proc.join(10)
    half = len(rss) // 2
    step = max(1, len(rss) // 6)
    print("  RSS over time   " + ", ".join(f"{i}s {rss[i]:.0f}" for i in range(0, len(rss), step))
          + " MB", flush=True)
    return {"rss_first": statistics.mean(rss[:half]), "rss_second": statistics.mean(rss[half:]),
            "rss_max": max(rss), "hwm": hwm, "p50": _pct(totals, 0.5), "p99": _pct(totals, 0.99),
            "scrapes": len(totals)}


def report_steady(result: dict[str, float], duration: float) -> bool:
    """RSS and /metrics p99 at steady state, against the goals."""
    growth = result["rss_second"] - result["rss_first"]
    good = result["rss_max"] <= 200 and result["p99"] <= 0.050
    print(f"\nsteady state, measured ({duration:.0f} s of incremental renders in a process "
          f"holding every series with full history, fed the schedule's results, scraped every "
          f"0.5 s):\n"
          f"  RSS             mean {result['rss_first']:.0f} MB (first half) -> "
          f"{result['rss_second']:.0f} MB (second half, {growth:+.0f} MB), max "
          f"{result['rss_max']:.0f} MB, VmHWM {result['hwm']:.0f} MB   goal <= 200 MB: "
          f"{_goal(result['rss_max'] <= 200)}\n"
          f"  /metrics        p50 {result['p50'] * 1000:6.1f} ms  p99 {result['p99'] * 1000:6.1f} "
          f"ms over {result['scrapes']:.0f} scrapes   goal p99 <= 50 ms: "
          f"{_goal(result['p99'] <= 0.050)}")
    return good


# -- reading the exposition ----------------------------------------------------------------------
_SAMPLE = re.compile(rb"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(body: bytes) -> int:
    """Sample lines in an exposition."""
    return body.count(b"\n") - body.count(b"\n#") - body.startswith(b"#")


def parse(body: bytes, names: tuple[str, ...]) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of the samples of these metric names."""
    out = []
    for name in names:
        start = body.find(b"\n" + name.encode())
        if start < 0:
            continue
        end = body.find(b"\n# HELP", start)
        for m in _SAMPLE.finditer(body, start + 1, len(body) if end < 0 else end):
            if m.group(1).decode() == name:
                labels = dict(_LABEL.findall((m.group(2) or b"").decode()))
                out.append((name, labels, float(m.group(3))))
    return out


def own(body: bytes) -> bytes:
    """The exporter's own series: the tail metrics() adds after the cached results."""
    return body[body.rfind(b"# HELP fedprobe_exporter_queue_depth"):]


def by_label(rows: list[tuple[str, dict[str, str], float]], key: str) -> dict[str, float]:
    """Values summed per value of one label."""
    out: dict[str, float] = {}
    for _, labels, value in rows:
        out[labels.get(key, "")] = out.get(labels.get(key, ""), 0.0) + value
    return out


def lag_buckets(body: bytes) -> dict[str, list[tuple[float, float]]]:
    """Per pool: [(le, cumulative count)] of the scheduling lag histogram."""
    out: dict[str, list[tuple[float, float]]] = {}
    for _, labels, value in parse(own(body), ("fedprobe_exporter_scheduling_lag_seconds_bucket",)):
        out.setdefault(labels["pool"], []).append((float(labels["le"]), value))
    return {pool: sorted(b) for pool, b in out.items()}


def quantile(q: float, start: list[tuple[float, float]], end: list[tuple[float, float]]) -> float:
    """histogram_quantile over the increase between two snapshots (linear within a bucket)."""
    inc = [(le, e - s) for (le, e), (_, s) in zip(end, start or [(le, 0) for le, _ in end],
                                                  strict=True)]
    total = inc[-1][1]
    if total <= 0:
        return float("nan")
    rank, prev_le, prev_n = q * total, 0.0, 0.0
    for le, n in inc:
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_n) / max(n - prev_n, 1e-9)
        prev_le, prev_n = le, n
    return prev_le


# -- the load run --------------------------------------------------------------------------------
@dataclasses.dataclass
class Scrape:
    at: float
    body: bytes


@dataclasses.dataclass
class LoadRun:
    metrics_ttfb: list[float] = dataclasses.field(default_factory=list)
    metrics_total: list[float] = dataclasses.field(default_factory=list)
    healthy: list[float] = dataclasses.field(default_factory=list)
    mid: Scrape | None = None
    last: Scrape | None = None
    depth_max: dict[str, float] = dataclasses.field(default_factory=dict)
    every: float = 0.0
    rss_start: float = 0.0
    rss_max: float = 0.0
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)
    encoding: str = ""
    wire_bytes: int = 0


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[float, float, bytes, str]:
    start = time.perf_counter()
    conn.request("GET", path, headers=PROM_HEADERS)
    resp = conn.getresponse()
    ttfb = time.perf_counter() - start
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {resp.status}")
    return ttfb, time.perf_counter() - start, body, resp.getheader("Content-Encoding") or ""


def load(url: str, exporter: ProcStats, sandbox: ProcStats, duration: float,
         every: float) -> LoadRun:
    """Scrape /metrics and /-/healthy alternately; snapshot the second half's edges."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    out = LoadRun(every=every, rss_start=exporter.status_mb("VmRSS"))
    start = time.monotonic()
    half = start + duration / 2
    cpu0: dict[str, float] = {}
    while (now := time.monotonic()) < start + duration:
        ttfb, total, body, out.encoding = _get(conn, "/metrics")
        at = time.monotonic()
        out.wire_bytes = len(body)
        body = gzip.decompress(body) if out.encoding == "gzip" else body
        out.healthy.append(_get(conn, "/-/healthy")[1])
        out.metrics_ttfb.append(ttfb)
        out.metrics_total.append(total)
        for pool, depth in by_label(parse(own(body), ("fedprobe_exporter_queue_depth",)),
                                    "pool").items():
            out.depth_max[pool] = max(out.depth_max.get(pool, 0.0), depth)
        out.rss_max = max(out.rss_max, exporter.status_mb("VmRSS"))
        if out.mid is None and at >= half:
            out.mid = Scrape(at, body)
            cpu0 = {"exporter": exporter.cpu(), "sandbox": sandbox.cpu(),
                    "benchmark": time.process_time(), "wall": at}
        out.last = Scrape(at, body)
        time.sleep(max(0.0, now + every - time.monotonic()))
    conn.close()
    wall = time.monotonic() - cpu0["wall"]
    out.cpu = {"exporter": (exporter.cpu() - cpu0["exporter"]) / wall,
               "sandbox": (sandbox.cpu() - cpu0["sandbox"]) / wall,
               "benchmark": (time.process_time() - cpu0["benchmark"]) / wall}
    return out


# -- report --------------------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _goal(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _scheduled(config: cfg.ExporterConfig, checks: tuple[str, ...]) -> float:
    """Runs per second the schedule asks for."""
    return sum(1 / j.options.interval for j in config.jobs if j.check in checks)


def _pool_counts(body: bytes) -> dict[str, tuple[float, float, float]]:
    """Per pool, live: (runs started, runs queued now, occurrences skipped)."""
    tail = own(body)
    started = by_label(parse(tail, ("fedprobe_exporter_scheduling_lag_seconds_count",)), "pool")
    queued = by_label(parse(tail, ("fedprobe_exporter_queue_depth",)), "pool")
    skipped = by_label(parse(tail, ("fedprobe_exporter_runs_skipped_total",)), "pool")
    return {p: (started.get(p, 0), queued.get(p, 0), skipped.get(p, 0)) for p in POOLS}


def report_schedule(config: cfg.ExporterConfig, run: LoadRun, elapsed: float) -> bool:
    """Per pool: runs started vs due (started + queue growth + skipped) and vs the nominal
    schedule; lag and queue depth. Counted from the exporter's own (live) series."""
    assert run.mid is not None and run.last is not None
    window = run.last.at - run.mid.at
    print(f"\nresults over the steady window (last {window:.0f} s of {elapsed:.0f} s):")
    before, after = _pool_counts(run.mid.body), _pool_counts(run.last.body)
    ok = True
    for pool, checks in (("fast", cfg.FAST), ("vm", ("vm",))):
        jobs = [j for j in config.jobs if j.check in checks]
        if not jobs:
            continue
        started, queued, skipped = (a - b for a, b in zip(after[pool], before[pool],
                                                          strict=True))
        due = (started + queued + skipped) / window
        scheduled = _scheduled(config, checks)
        good = started / window >= 0.95 * due
        ok &= good
        interval = max(j.options.interval for j in jobs)
        share = min(1.0, window / interval)
        spread = ("" if elapsed - window >= interval else
                  f"; first interval: +-{((1 - share) / (len(jobs) * share)) ** 0.5:.0%} "
                  "by chance")
        print(f"  {pool:<4} rate  {started / window:6.2f}/s started of {due:6.2f}/s due "
              f"(queue {queued:+.0f}, skipped {skipped:.0f}); {scheduled:.2f}/s scheduled "
              f"({started / window / scheduled:.0%}{spread})   goal >= 95% of due: "
              f"{_goal(good)}")
    start, end = lag_buckets(run.mid.body), lag_buckets(run.last.body)
    for pool in ("fast", "vm"):
        qs = [quantile(q, start.get(pool, []), end[pool]) for q in (0.5, 0.9, 0.99)]
        print(f"  {pool:<4} scheduling lag  p50 {qs[0]:6.3f} s  p90 {qs[1]:6.3f} s  "
              f"p99 {qs[2]:6.3f} s   queue depth max {run.depth_max.get(pool, 0):.0f}, "
              f"at end {after[pool][1]:.0f}")
    return ok


def report_exporter(run: LoadRun, rss_hwm: float) -> bool:
    """RSS, /metrics latency against /-/healthy, the exposition, failures, CPU."""
    assert run.last is not None
    good_rss = rss_hwm <= 200
    print(f"  exporter RSS    at start {run.rss_start:5.1f} MB, max sampled {run.rss_max:5.1f} "
          f"MB, VmHWM {rss_hwm:5.1f} MB   goal <= 200 MB: {_goal(good_rss)}")
    h50 = statistics.median(run.healthy)
    p50, p99 = statistics.median(run.metrics_total), _pct(run.metrics_total, 0.99)
    good_p99 = p99 <= 0.050
    print(f"  /metrics        p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms  (first byte "
          f"p50 {statistics.median(run.metrics_ttfb) * 1000:.1f}, p99 "
          f"{_pct(run.metrics_ttfb, 0.99) * 1000:.1f} ms)  x{p50 / h50:.1f} /-/healthy   "
          f"goal p99 <= 50 ms: {_goal(good_p99)}")
    print(f"  /-/healthy      p50 {h50 * 1000:6.1f} ms  p99 {_pct(run.healthy, 0.99) * 1000:6.1f}"
          f" ms  ({len(run.healthy)} of each, alternately, every {run.every:g} s)")
    body = run.last.body
    wire = (f"{run.wire_bytes / MB:.2f} MB sent gzip-compressed" if run.encoding == "gzip"
            else f"sent as is ({run.encoding or 'no'} Content-Encoding) though gzip was asked")
    print(f"  exposition      {len(body) / MB:.1f} MB, {samples(body)} samples at the end; "
          f"{wire}")
    fails = parse(body, ("fedprobe_check_failures_total",))
    leaked = sum(v for *_, v in parse(body, ("fedprobe_vm_leaks_total",)))
    print(f"  failed runs     {sum(v for *_, v in fails):.0f} "
          f"{dict(sorted((k, v) for k, v in by_label(fails, 'reason').items() if v)) or ''}"
          f"; VMs leaked {leaked:.0f}")  # every reason is exported, at 0 until it happens
    print("  CPU (cores)     " + ", ".join(f"{k} {v:.2f}" for k, v in run.cpu.items())
          + f"  of {os.cpu_count()}")
    return good_rss and good_p99


def report_projection(history: int, proj: dict[str, float], rss_start: float,
                      changed: float) -> bool:
    """The steady state a run of minutes does not reach."""
    duty = proj["again_s"] / (proj["again_s"] + 1.0)  # the renderer pauses 1 s between renders
    rss = rss_start + proj["kept_mb"] + proj["held_mb"] + proj["peak_mb"]
    print(f"\nprojection at steady state (every check run, {history}-run history full; the "
          f"exporter's own render path, in this process, quiet):\n"
          f"  exposition      {proj['bytes'] / MB:.1f} MB, {proj['samples']:.0f} samples\n"
          f"  render          first {proj['first_s']:.2f} s; after one second's results "
          f"({changed:.0f} runs) {proj['again_s']:.3f} s: the renderer busy {duty:.0%} of the "
          f"time\n"
          f"  memory          results kept {proj['kept_mb']:.0f} MB + exposition held "
          f"{proj['held_mb']:.0f} MB + render transient {proj['peak_mb']:.0f} MB\n"
          f"  RSS             ~{rss:.0f} MB (RSS at start + those)   goal <= 200 MB: "
          f"{_goal(rss <= 200)}")
    return rss <= 200


@contextmanager
def servers(workdir: Path) -> Iterator[dict[str, Any]]:
    """The sandbox in its own process; stopped (guests removed) on the way out."""
    log = workdir / "sandbox.log"
    proc = _spawn(["sandbox", "--state-dir", str(workdir / "sandbox"), "--guests", "process"],
                  log)
    try:
        info_file = workdir / "sandbox" / "sandbox.json"
        _wait_for("sandbox", proc, log, info_file.is_file)
        yield {**json.loads(info_file.read_text()), "pid": proc.pid}
    finally:
        _stop(proc, 30)


def main() -> int:
    """Measure and print; exit 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--scrape-every", type=float, default=0.5)
    parser.add_argument("--fast-interval", type=float, default=60.0, help="keystone, seconds")
    parser.add_argument("--api-interval", type=float, default=60.0)
    parser.add_argument("--vm-interval", type=float, default=900.0)
    parser.add_argument("--vm-sites", type=int, default=None, help="default: every site")
    parser.add_argument("--vm-workers", type=int, default=2)
    parser.add_argument("--fast-workers", type=int, default=8)
    parser.add_argument("--baseline-runs", type=int, default=30)
    parser.add_argument("--steady-duration", type=float, default=120.0,
                        help="seconds of the measured steady state")
    parser.add_argument("--steady-only", action="store_true",
                        help="only the measured steady state (no live load, no projection)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, configs)")
    args = parser.parse_args()
    args.vm_sites = args.sites if args.vm_sites is None else args.vm_sites
    workdir = Path(tempfile.mkdtemp(prefix="fedprobe-exporter-scale-"))
    exporter = None
    try:
        with servers(workdir) as sb:
            path = write_configs(workdir, Path(sb["sites_yaml"]), args)
            t0 = time.perf_counter()
            config = cfg.load(path)
            print(f"exporter at scale: {len(config.sites)} sites, {len(config.jobs)} scheduled "
                  f"checks (keystone every {args.fast_interval:.0f} s, api every "
                  f"{args.api_interval:.0f} s, vm every {args.vm_interval:.0f} s on "
                  f"{args.vm_sites} sites); workers fast {args.fast_workers}, vm "
                  f"{args.vm_workers}; config load {time.perf_counter() - t0:.1f} s")
            costs = check_costs(config, args.baseline_runs)
            print("baseline: one run, single-threaded from this process (quiet machine):")
            for check, (wall, cpu, _) in costs.items():
                print(f"  {check:<8} {wall * 1000:7.1f} ms wall, {cpu * 1000:6.1f} ms CPU on "
                      f"the exporter's side ({1 / wall:6.1f} runs/s on one thread)")
            per_second = _scheduled(config, cfg.CHECKS)
            runs = {c: r for c, (_, _, r) in costs.items()}
            steady = steady_state(path, runs, per_second, args.steady_duration,
                                  args.scrape_every)
            if args.steady_only:
                return 0 if report_steady(steady, args.steady_duration) else 1
            proj = projection(path, runs, per_second)
            log = workdir / "exporter.log"
            t0 = time.perf_counter()
            exporter = _spawn(["exporter", "--config", str(path)], log)
            url = _wait_for("exporter", exporter, log, lambda: (m := re.search(
                r"serving on (http://127\.0\.0\.1:\d+)/", log.read_text())) and m.group(1))
            print(f"exporter started in {time.perf_counter() - t0:.1f} s; "
                  f"load for {args.duration:.0f} s ...", flush=True)
            stats = ProcStats(exporter.pid)
            run = load(url, stats, ProcStats(sb["pid"]), args.duration, args.scrape_every)
            hwm = stats.status_mb("VmHWM")
            _stop(exporter, 60)
            errors = [line for line in log.read_text().splitlines() if " ERROR " in line]
            ok = report_schedule(config, run, args.duration)
            ok &= report_exporter(run, hwm)
            ok &= report_projection(config.file.history, proj, run.rss_start, per_second)
            ok &= report_steady(steady, args.steady_duration)
            print(f"\nexporter exit status {exporter.returncode}; {len(errors)} ERROR lines in "
                  f"its log" + (f", first: {errors[0][:160]}" if errors else ""))
    finally:
        _stop(exporter, 60)
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok and not errors and exporter.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
