"""A made-up exposition of every series docs/exporter-metrics.md lists, for two sites, whose
counters and histograms grow with each scrape: a scrape target for dashboard and rule tests that
do not need the real exporter. site-a passes everything; site-b's VM boots slowly, does not answer
over IPv6 and was left behind."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

SITES = ("site-a", "site-b")
INTERVALS = {"vm": 900, "keystone": 60, "api": 120, "proxy": 300, "token": 300}
PHASES = {
    "vm": ("auth", "discover", "sweep", "create", "boot", "reach_v4", "reach_v6", "context", "mjf",
           "delete", "gone"),
    "keystone": ("auth", "token_lifetime", "catalog_compute", "version_compute"),
    "api": ("auth", "flavors", "images", "networks", "limits", "quota"),
    "proxy": ("credential",),
    "token": ("credential",),
}
PHASE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
LAG_BUCKETS = (0.1, 1, 10, 60, 300, 1800)
Labels = dict[str, str]


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(float(value))


def _labels(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""


class _Text:
    """Exposition lines, family by family."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, samples: Iterable[tuple[Labels, float]]) -> None:
        self.lines += [f"# HELP {name} Synthetic {name}.", f"# TYPE {name} {kind}"]
        self.lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]

    def histogram(self, name: str, buckets: tuple[float, ...],
                  observed: Iterable[tuple[Labels, float, int]]) -> None:
        """Each (labels, value, count): `count` observations of `value`."""
        self.lines += [f"# HELP {name} Synthetic {name}.", f"# TYPE {name} histogram"]
        for labels, value, count in observed:
            for le in (*buckets, float("inf")):
                bound = "+Inf" if le == float("inf") else _number(le)
                hits = count if value <= le else 0
                self.lines.append(f"{name}_bucket{_labels(labels | {'le': bound})} {hits}")
            self.lines.append(f"{name}_sum{_labels(labels)} {_number(value * count)}")
            self.lines.append(f"{name}_count{_labels(labels)} {count}")


def _phase_runs(site: str, check: str) -> list[tuple[str, int, float | None]]:
    """(phase, state, seconds or None when skipped) of the last run. site-b's VM boots slowly,
    gets no IPv6 answer and cannot be deleted (so `gone` is skipped)."""
    runs: list[tuple[str, int, float | None]] = []
    for i, phase in enumerate(PHASES[check]):
        seconds: float | None = 0.2 + 0.1 * i
        state = 0
        if check == "vm" and phase == "boot":
            seconds = 200.0 if site == "site-b" else 30.0
        if check == "vm" and site == "site-b" and phase in ("reach_v6", "delete"):
            state = 2
        if check == "vm" and site == "site-b" and phase == "gone":
            seconds = None
        runs.append((phase, state, seconds))
    return runs


def render(scrape: int, now: float) -> str:
    """The exposition at the given scrape number (counters grow with it) and Unix time."""
    text = _Text()
    checks = [({"site": site, "driver": "openstack", "check": check}, site, check)
              for site in SITES for check in PHASES]
    failed = {("site-b", "vm")}
    state = {(s, c): 2 if (s, c) in failed else 0 for _, s, c in checks}
    text.family("fedprobe_check_status", "gauge", ((lb, state[s, c]) for lb, s, c in checks))
    text.family("fedprobe_check_success", "gauge",
                ((lb, float(state[s, c] < 2)) for lb, s, c in checks))
    text.family("fedprobe_check_duration_seconds", "gauge",
                ((lb, 45.0 if c == "vm" else 0.8) for lb, s, c in checks))
    text.family("fedprobe_check_last_run_timestamp_seconds", "gauge",
                ((lb, now - 30) for lb, s, c in checks))
    text.family("fedprobe_check_last_success_timestamp_seconds", "gauge",
                ((lb, now - 30) for lb, s, c in checks if (s, c) not in failed))
    text.family("fedprobe_check_interval_seconds", "gauge",
                ((lb, INTERVALS[c]) for lb, s, c in checks))
    text.family("fedprobe_check_runs_total", "counter", ((lb, 10 + scrape) for lb, s, c in checks))
    text.family("fedprobe_check_failures_total", "counter",
                ((lb | {"reason": "reach_v6"}, scrape) for lb, s, c in checks if (s, c) in failed))
    text.family("fedprobe_check_consecutive_failures", "gauge",
                ((lb, scrape if (s, c) in failed else 0) for lb, s, c in checks))

    runs = [(lb | {"phase": p}, st, d) for lb, s, c in checks for p, st, d in _phase_runs(s, c)]
    ran = [(lb, st, d) for lb, st, d in runs if d is not None]  # untimed here: did not run
    text.family("fedprobe_phase_ran", "gauge", ((lb, float(d is not None)) for lb, st, d in runs))
    text.family("fedprobe_phase_status", "gauge", ((lb, st) for lb, st, d in ran))
    text.family("fedprobe_phase_success", "gauge", ((lb, float(st < 2)) for lb, st, d in ran))
    text.family("fedprobe_phase_finding", "gauge", ((lb, float(st > 0)) for lb, st, d in ran))
    text.family("fedprobe_phase_last_duration_seconds", "gauge", ((lb, d) for lb, st, d in ran))
    text.histogram("fedprobe_phase_duration_seconds", PHASE_BUCKETS,
                   ((lb, d, scrape) for lb, st, d in ran))

    vm = [({"site": site, "driver": "openstack"}, site) for site in SITES]
    text.family("fedprobe_vm_reachable", "gauge",
                [(lb | {"family": "ipv4"}, 1.0) for lb, s in vm]
                + [(lb | {"family": "ipv6"}, float(s == "site-a")) for lb, s in vm])
    text.family("fedprobe_vm_leaked", "gauge", ((lb, float(s == "site-b")) for lb, s in vm))
    text.family("fedprobe_vm_servers_present", "gauge",
                ((lb, float(s == "site-b")) for lb, s in vm))
    text.family("fedprobe_vm_leaks_total", "counter",
                ((lb, scrape if s == "site-b" else 0) for lb, s in vm))
    text.family("fedprobe_vm_boot_seconds", "gauge",
                ((lb, 200.0 if s == "site-b" else 30.0) for lb, s in vm))

    expiries = [({"site": s, "driver": "openstack", "check": c, "kind": k}, now + left)
                for s in SITES for c, k, left in (("proxy", "proxy", 86400.0),
                                                  ("proxy", "voms_ac", 40000.0),
                                                  ("token", "token", 3000.0))]
    text.family("fedprobe_credential_expiry_timestamp_seconds", "gauge", expiries)

    pools = [({"pool": "vm"}, 2), ({"pool": "fast"}, 8)]
    text.family("fedprobe_exporter_queue_depth", "gauge", ((lb, 0) for lb, w in pools))
    text.family("fedprobe_exporter_running_checks", "gauge", ((lb, min(w, 2)) for lb, w in pools))
    text.family("fedprobe_exporter_workers", "gauge", pools)
    text.histogram("fedprobe_exporter_scheduling_lag_seconds", LAG_BUCKETS,
                   ((lb, 0.5, scrape * w) for lb, w in pools))
    text.family("fedprobe_exporter_runs_skipped_total", "counter", ((lb, 0) for lb, w in pools))
    text.family("fedprobe_exporter_config_last_reload_successful", "gauge", [({}, 1)])
    text.family("fedprobe_exporter_config_last_reload_success_timestamp_seconds", "gauge",
                [({}, now - 3600)])
    text.family("fedprobe_exporter_sites", "gauge", [({}, len(SITES))])
    text.family("fedprobe_exporter_start_time_seconds", "gauge", [({}, now - 7200)])
    text.family("fedprobe_build_info", "gauge", [({"version": "0.1.0", "python": "3.11.2"}, 1)])
    for name, kind, value in (("process_resident_memory_bytes", "gauge", 9e7),
                              ("process_virtual_memory_bytes", "gauge", 4e8),
                              ("process_cpu_seconds_total", "counter", 12.0 + scrape),
                              ("process_open_fds", "gauge", 40), ("process_max_fds", "gauge", 1024),
                              ("process_start_time_seconds", "gauge", now - 7200)):
        text.family(name, kind, [({}, value)])
    return "\n".join(text.lines) + "\n"


def growing_exposition(clock: Callable[[], float] = time.time) -> Callable[[], str]:
    """A render() for ExpositionServer: each call is the next scrape, at the clock's time."""
    scrapes = 0

    def render_next() -> str:
        nonlocal scrapes
        scrapes += 1
        return render(scrapes, clock())

    return render_next
