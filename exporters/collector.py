"""The fedprobe_* series (docs/exporter-metrics.md) from the Store, through prometheus_client's
custom-collector API on a private CollectorRegistry. Reads cached results only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from exporters.store import Series, Store

CHECK = ["site", "driver", "check"]
PHASE = [*CHECK, "phase"]
VM = ["site", "driver"]


class ResultsCollector(Collector):
    """Per check, per phase, VM and credential series. ``oneshot``: only what one run says
    (no counters, histograms or schedule), for textfile and Pushgateway output."""

    def __init__(self, store: Store, oneshot: bool = False) -> None:
        self.store = store
        self.oneshot = oneshot

    def collect(self) -> Iterator[Metric]:
        families = new_families(self.oneshot)
        with self.store.reading() as all_series:
            for s in all_series:
                add_series(families, s, self.oneshot)
        yield from families.values()


def new_families(oneshot: bool) -> dict[str, Metric]:
    """Every results family, empty, in exposition order."""
    g: dict[str, Metric] = {name: GaugeMetricFamily(name, doc, labels=labels)
                            for name, doc, labels in _GAUGES}
    if oneshot:
        return g
    return {**g,
            "fedprobe_check_runs": CounterMetricFamily(
                "fedprobe_check_runs", "Runs finished since the exporter started.", labels=CHECK),
            "fedprobe_check_failures": CounterMetricFamily(
                "fedprobe_check_failures", "Failed runs by reason (the first phase with the "
                "worst state, or timeout/internal).", labels=[*CHECK, "reason"]),
            "fedprobe_vm_leaks": CounterMetricFamily(
                "fedprobe_vm_leaks", "VMs left behind since the exporter started.", labels=VM),
            "fedprobe_phase_duration_seconds": HistogramMetricFamily(
                "fedprobe_phase_duration_seconds", "Duration of every VM run's phases.",
                labels=PHASE)}


def add_series(f: dict[str, Any], s: Series, oneshot: bool) -> None:
    """Add one (site, check)'s samples to the families."""
    labels = [s.site, s.driver, s.check]
    if s.interval is not None and not oneshot:
        f["fedprobe_check_interval_seconds"].add_metric(labels, s.interval)
    if not oneshot:  # counters: 0 from the moment a check is configured
        f["fedprobe_check_runs"].add_metric(labels, s.runs)
        if s.latest is not None:
            f["fedprobe_check_consecutive_failures"].add_metric(labels, s.consecutive_failures)
        for reason, n in sorted(s.failures.items()):
            f["fedprobe_check_failures"].add_metric([*labels, reason], n)
        for phase, h in s.phase_hist.items():
            f["fedprobe_phase_duration_seconds"].add_metric([*labels, phase], h.cumulative(),
                                                            h.sum)
        if s.check == "vm":
            f["fedprobe_vm_leaks"].add_metric([s.site, s.driver], s.leaked_total)
    if s.check == "vm" and s.present is not None:
        f["fedprobe_vm_servers_present"].add_metric([s.site, s.driver], s.present)
    if s.last_success is not None:
        f["fedprobe_check_last_success_timestamp_seconds"].add_metric(labels, s.last_success)
    run = s.latest
    if run is None:
        return
    f["fedprobe_check_status"].add_metric(labels, run.state)
    f["fedprobe_check_success"].add_metric(labels, 1 if run.success else 0)
    f["fedprobe_check_duration_seconds"].add_metric(labels, run.duration)
    f["fedprobe_check_last_run_timestamp_seconds"].add_metric(labels, run.finished)
    for p in run.phases:
        pl = [*labels, p.name]
        f["fedprobe_phase_ran"].add_metric(pl, 1 if p.ran else 0)
        if not p.ran:
            continue  # no evidence: no state, success or duration for this run
        f["fedprobe_phase_status"].add_metric(pl, p.state)
        f["fedprobe_phase_success"].add_metric(pl, 1 if p.passed else 0)
        f["fedprobe_phase_finding"].add_metric(pl, 1 if p.finding else 0)
        if p.seconds is not None:
            f["fedprobe_phase_last_duration_seconds"].add_metric(pl, p.seconds)
    for kind, ts in run.expiries:
        f["fedprobe_credential_expiry_timestamp_seconds"].add_metric([*labels, kind], ts)
    if run.check != "vm":
        return
    vm = [s.site, s.driver]
    f["fedprobe_vm_leaked"].add_metric(vm, run.leaked)
    for family, ok in run.reachable:
        f["fedprobe_vm_reachable"].add_metric([*vm, family], 1 if ok else 0)
    boot = run.phase("boot")
    if boot is not None and boot.passed and boot.seconds is not None:
        f["fedprobe_vm_boot_seconds"].add_metric(vm, boot.seconds)


_GAUGES = (
    ("fedprobe_check_status", "Nagios state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) of the "
     "last run.", CHECK),
    ("fedprobe_check_success", "1 if the last run was OK or WARNING, else 0.", CHECK),
    ("fedprobe_check_duration_seconds", "Wall time of the last run.", CHECK),
    ("fedprobe_check_last_run_timestamp_seconds", "Unix time the last run finished.", CHECK),
    ("fedprobe_check_last_success_timestamp_seconds", "Unix time the last successful run "
     "finished.", CHECK),
    ("fedprobe_check_interval_seconds", "The check's configured schedule interval.", CHECK),
    ("fedprobe_check_consecutive_failures", "Failed runs in a row since the last success.",
     CHECK),
    ("fedprobe_phase_ran", "1 if the phase (or step) ran in the last run, 0 if it was "
     "skipped, unavailable or not reached.", PHASE),
    ("fedprobe_phase_status", "Nagios state the phase earned in the last run (policy "
     "applied); absent when it did not run.", PHASE),
    ("fedprobe_phase_success", "1 if the phase passed in the last run, 0 if it failed; absent "
     "when it did not run.", PHASE),
    ("fedprobe_phase_finding", "1 if the phase found something wrong in the last run, whatever "
     "the site's policy made of it (an informational finding is OK and 1 here); absent when it "
     "did not run.", PHASE),
    ("fedprobe_phase_last_duration_seconds", "Seconds the phase took in the last run; absent "
     "when it did not run.", PHASE),
    ("fedprobe_vm_reachable", "1 if the last run's VM answered over the family, else 0.",
     [*VM, "family"]),
    ("fedprobe_vm_leaked", "VMs the last run left, or may have left (a lost create answer, a "
     "deletion it could not confirm).", VM),
    ("fedprobe_vm_servers_present", "This monitoring host's probe VMs (this machine's) still "
     "at the site, as of the last run whose sweep could look; absent until one could.", VM),
    ("fedprobe_vm_boot_seconds", "BUILD to ACTIVE seconds of the last run.", VM),
    ("fedprobe_credential_expiry_timestamp_seconds", "Unix time the credential the check "
     "read expires.", [*CHECK, "kind"]),
)


def registry_for(store: Store, oneshot: bool = False) -> CollectorRegistry:
    """A private registry (no process or platform collectors) serving the store."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ResultsCollector(store, oneshot))
    return registry
