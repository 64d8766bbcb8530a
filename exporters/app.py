"""The exporter as one object: its config (reloadable), the store of results, the scheduler that
fills it, and the /metrics exposition, rendered in the background whenever results changed (at
most every `render_interval` seconds) so a scrape only copies bytes."""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from exporters import config as cfg
from exporters import deflate
from exporters.exposition import EOF_LINE, Exposition, Rendered, openmetrics_text
from exporters.model import STATE_NAMES, CheckRun
from exporters.runchecks import deadlines, run_check
from exporters.scheduler import POOLS, Scheduler
from exporters.store import Store
from probes.deadline import Deadline
from probes.runner.custody import Custody
from probes.runner.custody import make as make_custody
from probes.runner.identity import StateDirError, default_host
from probes.runner.inbox import Channel, Inbox
from probes.runner.ledger import all_sites
from probes.runner.registry import failure_reasons

log = logging.getLogger(__name__)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fedprobe")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


BUILD_VERSION = _version()
LEAK_RETRY_AFTER = 60.0        # seconds after a run that left a VM, its VM is tried again
LEDGER_CLEANUP_TIMEOUT = 120.0


def _custody(config: cfg.ExporterConfig, path: Path) -> Custody:
    state = config.file.state_dir
    try:
        return make_custody("exporter", config.file.monitoring_host,
                            Path(state).expanduser() if state else None, os.environ)
    except StateDirError as exc:
        raise cfg.ConfigError(f"exporter config {path}: state_dir: {exc}") from None


class Exporter:
    """Loads the config, schedules the checks, keeps and renders their results."""

    def __init__(self, config_path: Path, render_interval: float = 1.0) -> None:
        self.config_path = config_path
        self.config = cfg.load(config_path)  # ConfigError: refuse to start
        self.custody = _custody(self.config, config_path)  # ConfigError: refuse to start
        self.host = self.custody.identity.host
        self.store = Store(self.config.file.history)
        self.scheduler = Scheduler({"vm": self.config.file.workers.vm,
                                    "fast": self.config.file.workers.fast}, self.execute)
        self.started = time.time()
        self.reload_ok = True
        self.reload_success_at = time.time()
        self.reload_error = ""
        self._reload_lock = threading.Lock()
        self._cleaning: set[str] = set()
        self._render_interval = render_interval
        self._results = Rendered([], [], [])  # until the first render (start() does one)
        self._gz_text = self._gz_openmetrics = deflate.open_member([])
        self._rendered_version = -1
        self.render_seconds = 0.0  # the last background render's duration
        self._next_trim = 0.0
        self._stop = threading.Event()
        self._exposition = Exposition(self.store)
        self._gz_headers = [deflate.segment(h) for h in self._exposition.headers]
        self._gz_openmetrics_headers = [deflate.segment(h)
                                        for h in self._exposition.openmetrics_headers]
        self._own = CollectorRegistry(auto_describe=False)
        self._own.register(_OwnCollector(self))
        ProcessCollector(registry=self._own)  # process_*: RSS, CPU seconds, open fds
        self._probe_slots = threading.BoundedSemaphore(self.config.file.workers.fast)
        self.inbox = Inbox()  # the guests' posted reports, for every run (web: /fedprobe/report)
        self._configure_store()

    def _channel(self) -> Channel | None:
        """Where this config tells guests to post (None: no report_url, the console only)."""
        url = self.config.file.report_url
        return Channel(self.inbox, url) if url else None

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start scheduling and rendering."""
        self._render()
        threading.Thread(target=self._renderer, name="fedprobe-render", daemon=True).start()
        self.scheduler.start(self.config.jobs)
        sites = sorted({j.site for j in self.config.jobs if j.check == "vm"}
                       & set(all_sites(self.custody.state_dir)))
        if sites:  # what runs of this machine left when they (or the exporter) were killed
            threading.Thread(target=self._clean_ledgers, args=(sites,), daemon=True,
                             name="fedprobe-ledger-cleanup").start()
        log.info("scheduling %d checks of %d sites (workers: vm %d, fast %d)",
                 len(self.config.jobs), len(self.config.sites), self.config.file.workers.vm,
                 self.config.file.workers.fast)

    def stop(self) -> bool:
        """Graceful shutdown; True if every running check ended within shutdown_grace."""
        grace = self.config.file.shutdown_grace
        log.info("stopping: no new checks; waiting up to %.0fs for running ones to clean up",
                 grace)
        left = self.scheduler.stop(grace)
        self._stop.set()
        self.store.changed.set()
        for job in left:
            log.error("%s check of %s still running after %.0fs: its guardian deletes its VM "
                      "when the exporter exits (else the ledger has it for the next start)",
                      job.check, job.site, grace)
        return not left

    def reload(self) -> bool:
        """Re-read the config; on any error keep the running one and say why in one line."""
        with self._reload_lock:
            try:
                new = cfg.load(self.config_path)
                self._refuse_what_needs_a_restart(new)
            except cfg.ConfigError as exc:
                self.reload_ok = False
                self.reload_error = str(exc)
                log.error("config reload rejected, still running the previous config: %s", exc)
                return False
            old = self.config.file.workers
            self.config = new
            self._configure_store()
            self.scheduler.resize({"vm": new.file.workers.vm, "fast": new.file.workers.fast})
            self.scheduler.replace(new.jobs)
            if new.file.workers != old:
                log.info("workers now vm %d, fast %d (were %d, %d)", new.file.workers.vm,
                         new.file.workers.fast, old.vm, old.fast)
            self.reload_ok = True
            self.reload_error = ""
            self.reload_success_at = time.time()
            log.info("config reloaded: %d checks of %d sites", len(new.jobs), len(new.sites))
            return True

    def _refuse_what_needs_a_restart(self, new: cfg.ExporterConfig) -> None:
        """listen needs new sockets (the reload request itself came through the old ones); a
        new monitoring host would orphan the VMs tagged with the old one, which only a run of
        the old identity sweeps."""
        where = f"exporter config {self.config_path}"
        if tuple(new.file.listen) != tuple(self.config.file.listen):
            raise cfg.ConfigError(f"{where}: listen changed ({', '.join(self.config.file.listen)}"
                                  f" -> {', '.join(new.file.listen)}): restart the exporter to "
                                  "listen there")
        host = new.file.monitoring_host or default_host()
        if host != self.host:
            raise cfg.ConfigError(f"{where}: monitoring_host changed ({self.host} -> {host}): "
                                  "VMs this exporter tagged as its own would no longer be swept; "
                                  "restart it with the new name once they are gone")
        if new.file.state_dir != self.config.file.state_dir:
            raise cfg.ConfigError(f"{where}: state_dir changed: the ledger of this exporter's "
                                  "runs is in the old one; restart the exporter to move")

    def _configure_store(self) -> None:
        c = self.config
        self.store.configure(((j.site, j.check, str(c.sites[j.site].get("driver", "openstack")),
                               j.options.interval, failure_reasons(j.check, j.options.services))
                              for j in c.jobs), c.file.history)

    # -- running checks --------------------------------------------------------------------------
    def execute(self, job: cfg.Job, soft: Deadline, hard: Deadline) -> None:
        """One scheduled run (a worker thread calls this)."""
        run = run_check(job, self.config, self.custody, soft, hard, self._channel())
        before = self.store.latest(job.site, job.check)
        self.store.record(run, only_scheduled=True)
        log_state_change(before, run)
        if job.check == "vm" and run.leaked:
            self._clean_soon(job.site)

    # -- what ended runs left ------------------------------------------------------------------
    def _clean_soon(self, site: str) -> None:
        """Retry a left VM a moment after its run ended (not an interval later)."""
        with self._reload_lock:
            if site in self._cleaning:
                return
            self._cleaning.add(site)
        timer = threading.Timer(LEAK_RETRY_AFTER, self._clean_ledgers, args=([site],))
        timer.daemon = True
        timer.start()

    def _clean_ledgers(self, sites: list[str]) -> None:
        from probes import drivers
        from probes.config.sources import SiteError
        from probes.runner.cleanup import clean_ledger

        for name in sites:
            with self._reload_lock:
                self._cleaning.discard(name)
            if self._stop.is_set():
                return
            try:
                site = self.config.site(name, need_image=False)
                clean_ledger(site, self.custody, Deadline(LEDGER_CLEANUP_TIMEOUT),
                             drivers.create)
            except (SiteError, StateDirError) as exc:
                log.error("site %s: cannot clean up what ended runs left: %s", name, exc)
            except Exception as exc:  # a cloud that fails: the next run's sweep tries again
                log.warning("site %s: cleaning up what ended runs left failed: %s: %s", name,
                            type(exc).__name__, str(exc)[:300])

    def probe(self, site: str, check: str, timeout: float) -> CheckRun | None:
        """A fast check run now, within `timeout` seconds (None: too many /probe at once)."""
        job = next((j for j in self.config.jobs if j.key == (site, check)), None)
        if job is None:
            job = cfg.Job(site, check, cfg.options_for(self.config, site, check))
            cfg.check_job(self.config, job)  # ConfigError: the web layer answers 400
        if not self._probe_slots.acquire(timeout=min(1.0, timeout / 4)):
            return None
        try:
            # a fast check has nothing to clean up: all of the scrape's time but the margin
            soft, hard = deadlines(min(timeout, job.options.timeout) + 0.5, cleanup=False)
            return run_check(job, self.config, self.custody, soft, hard)
        finally:
            self._probe_slots.release()

    # -- exposition ------------------------------------------------------------------------------
    def metrics(self) -> bytes:
        """The last rendered results and the exporter's own series, right now."""
        return b"".join(self.metrics_chunks())

    def metrics_chunks(self, openmetrics: bool = False) -> Iterator[bytes]:
        """The same a family at a time (text, or OpenMetrics: the same cached samples under
        OpenMetrics headers): what /metrics sends uncompressed, joined as it goes."""
        r = self._results
        if openmetrics:
            yield from r.openmetrics()
            yield self._own_openmetrics() + EOF_LINE
        else:
            yield from r.text()
            yield generate_latest(self._own)

    def metrics_gzip(self, openmetrics: bool = False) -> list[bytes]:
        """The same gzip-compressed, as one gzip member: the results compressed once per render
        (each family's samples once, shared by both formats' headers), then the live rest."""
        live = self._own_openmetrics() + EOF_LINE if openmetrics else generate_latest(self._own)
        opened = self._gz_openmetrics if openmetrics else self._gz_text
        return [opened.head, opened.close(live)]

    def _own_openmetrics(self) -> bytes:
        return openmetrics_text(self._own)

    def _render(self) -> None:
        version = self.store.version
        results = self._exposition.render()
        segments = results.segments()
        self._gz_text = results.gzip_opened(False, self._gz_headers, segments)
        self._gz_openmetrics = results.gzip_opened(True, self._gz_openmetrics_headers, segments)
        self._results = results
        self._rendered_version = version

    def _renderer(self) -> None:
        while not self._stop.is_set():
            self.store.changed.wait()
            self.store.changed.clear()
            if self._stop.is_set():
                return
            if self.store.version != self._rendered_version:
                t0 = time.monotonic()
                self._render()
                if t0 >= self._next_trim:  # at most every TRIM_EVERY s: it holds malloc's lock
                    release_freed_memory()
                    self._next_trim = t0 + TRIM_EVERY
                self.render_seconds = time.monotonic() - t0
            self._stop.wait(self._render_interval)


class _OwnCollector(Collector):
    """The exporter's own health, read live (cheap: a few dozen samples)."""

    def __init__(self, exporter: Exporter) -> None:
        self.x = exporter

    def collect(self) -> Iterator[Metric]:
        x, sched = self.x, self.x.scheduler
        depth = GaugeMetricFamily("fedprobe_exporter_queue_depth", "Checks due and waiting "
                                  "for a worker.", labels=["pool"])
        running = GaugeMetricFamily("fedprobe_exporter_running_checks", "Checks running now.",
                                    labels=["pool"])
        workers = GaugeMetricFamily("fedprobe_exporter_workers", "The pool's size.",
                                    labels=["pool"])
        skipped = CounterMetricFamily("fedprobe_exporter_runs_skipped", "Occurrences skipped "
                                      "because the previous run of the same check was still "
                                      "going.", labels=["pool"])
        lag = HistogramMetricFamily("fedprobe_exporter_scheduling_lag_seconds", "How late a "
                                    "check started after it was due.", labels=["pool"])
        for pool in POOLS:
            depth.add_metric([pool], sched.queue_depth(pool))
            running.add_metric([pool], sched.running[pool])
            workers.add_metric([pool], sched.workers[pool])
            skipped.add_metric([pool], sched.skipped(pool))
            buckets, total = sched.lag_snapshot(pool)
            lag.add_metric([pool], buckets, total)
        yield from (depth, running, workers, skipped, lag)
        yield GaugeMetricFamily("fedprobe_exporter_config_last_reload_successful",
                                "1 if the last (re)load of the config worked.",
                                value=1 if x.reload_ok else 0)
        yield GaugeMetricFamily("fedprobe_exporter_config_last_reload_success_timestamp_seconds",
                                "When the config was last loaded successfully.",
                                value=x.reload_success_at)
        yield GaugeMetricFamily("fedprobe_exporter_sites", "Sites in the running config.",
                                value=len(x.config.sites))
        yield GaugeMetricFamily("fedprobe_exporter_start_time_seconds", "When the exporter "
                                "started (counters restart from 0 then).", value=x.started)
        build = GaugeMetricFamily("fedprobe_build_info", "Always 1: the fedprobe version and the "
                                  "Python running it.", labels=["version", "python"])
        build.add_metric([BUILD_VERSION, platform.python_version()], 1)
        yield build



def log_state_change(before: CheckRun | None, run: CheckRun) -> None:
    """A check turning bad or recovering at INFO (journalctl shows it); the rest at DEBUG."""
    name = STATE_NAMES[run.state]
    if before is None and run.state != 0:
        log.info("%s %s: %s (first run): %s", run.site, run.check, name, run.summary)
    elif before is not None and before.state != run.state:
        log.info("%s %s: %s -> %s: %s", run.site, run.check, STATE_NAMES[before.state], name,
                 run.summary)
    else:
        log.debug("%s %s: %s", run.site, run.check, run.summary)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_TRIM = _malloc_trim()
TRIM_EVERY = 30.0  # seconds between two trims (each takes a few ms at 1000 sites)


def release_freed_memory() -> None:
    """Give the memory a render freed back to the system (glibc's malloc_trim). Each render
    drops tens of MB of short-lived text; glibc keeps freed chunks for reuse, and with them
    spread over the heap the exporter's RSS crept up at steady state. Nothing in the standard
    library or prometheus_client does this; where libc is not glibc it does nothing."""
    if _TRIM is not None:
        _TRIM(0)
