"""What the Store keeps and what ResultsCollector makes of it, read back through the real
exposition (generate_latest) and parser; every series it serves is in the metrics doc."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import yaml
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from exporters.app import Exporter
from exporters.collector import registry_for
from exporters.model import CRITICAL, OK, UNKNOWN, WARNING, CheckRun, PhaseRun
from exporters.store import PHASE_BUCKETS, Histogram, Store
from probes.runner.registry import failure_reasons
from tests.metrics_doc import documented_series

DRIVER = "openstack"


def run(check: str = "vm", state: int = OK, *, site: str = "A", started: float = 1000.0,
        duration: float = 10.0, phases: tuple[PhaseRun, ...] = (), reason: str = "",
        leaked: int = 0, reachable: tuple[tuple[str, bool], ...] = (),
        expiries: tuple[tuple[str, float], ...] = (), present: int | None = None) -> CheckRun:
    return CheckRun(site, DRIVER, check, state, f"{check} {state}", started, duration, phases,
                    reason or ("" if state in (OK, WARNING) else "auth"), leaked, reachable,
                    expiries, present=present)


def vm_phases(boot: bool = True, boot_seconds: float = 30.0) -> tuple[PhaseRun, ...]:
    """A VM run's phases; when boot fails the reach/context/mjf phases are skipped."""
    out = [PhaseRun("auth", OK, True, 0.5), PhaseRun("create", OK, True, 1.0),
           PhaseRun("boot", OK if boot else CRITICAL, boot, boot_seconds, not boot)]
    later = ("reach_v4", "reach_v6", "context", "mjf")
    out += [PhaseRun(n, OK, True, 2.0) if boot else PhaseRun(n, OK, None, None) for n in later]
    return (*out, PhaseRun("delete", OK, True, 1.0), PhaseRun("gone", OK, True, 3.0))


def scrape(store: Store, oneshot: bool = False) -> list[Sample]:
    text = generate_latest(registry_for(store, oneshot)).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    """The one sample of that name whose labels include these (None: absent)."""
    found = [s.value for s in samples
             if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, f"{name} {labels}: {len(found)} samples"
    return found[0] if found else None


def names(samples: list[Sample]) -> set[str]:
    return {s.name for s in samples}


def scheduled(*checks: tuple[str, str, float]) -> Store:
    store = Store()
    store.configure((site, check, DRIVER, interval, failure_reasons(check))
                    for site, check, interval in checks)
    return store


def test_last_run_series_and_last_success_absent_until_one() -> None:
    store = scheduled(("A", "keystone", 60.0))
    got = scrape(store)
    assert value(got, "fedprobe_check_interval_seconds", check="keystone") == 60.0
    assert value(got, "fedprobe_check_status") is None  # nothing ran yet: no state to show
    store.record(run("keystone", CRITICAL, started=1000.0, duration=2.5))
    got = scrape(store)
    labels = {"site": "A", "driver": DRIVER, "check": "keystone"}
    assert value(got, "fedprobe_check_status", **labels) == CRITICAL
    assert value(got, "fedprobe_check_success", **labels) == 0
    assert value(got, "fedprobe_check_duration_seconds", **labels) == 2.5
    assert value(got, "fedprobe_check_last_run_timestamp_seconds", **labels) == 1002.5
    assert value(got, "fedprobe_check_last_success_timestamp_seconds") is None
    store.record(run("keystone", WARNING, started=2000.0, duration=1.0))
    got = scrape(store)
    assert value(got, "fedprobe_check_success", **labels) == 1  # WARNING: it worked
    assert value(got, "fedprobe_check_last_success_timestamp_seconds", **labels) == 2001.0
    store.record(run("keystone", UNKNOWN, started=3000.0, reason="internal"))
    got = scrape(store)
    assert value(got, "fedprobe_check_last_success_timestamp_seconds", **labels) == 2001.0
    assert value(got, "fedprobe_check_last_run_timestamp_seconds", **labels) == 3010.0


def test_runs_and_failures_by_reason_and_consecutive_failures() -> None:
    store = scheduled(("A", "api", 120.0))
    for state, reason in ((CRITICAL, "auth"), (CRITICAL, "auth"), (UNKNOWN, "timeout"),
                          (OK, ""), (CRITICAL, "flavors")):
        store.record(run("api", state, reason=reason))
    got = scrape(store)
    assert value(got, "fedprobe_check_runs_total", check="api") == 5
    counted = {s.labels["reason"]: s.value for s in got
               if s.name == "fedprobe_check_failures_total"}
    assert counted == {**dict.fromkeys(failure_reasons("api"), 0.0), "auth": 2, "timeout": 1,
                       "flavors": 1}
    assert value(got, "fedprobe_check_consecutive_failures", check="api") == 1
    store.record(run("api", CRITICAL, reason="flavors"))
    assert value(scrape(store), "fedprobe_check_consecutive_failures") == 2
    store.record(run("api", OK))
    assert value(scrape(store), "fedprobe_check_consecutive_failures") == 0


def test_a_failure_without_a_reason_counts_as_internal() -> None:
    store = Store()
    store.record(CheckRun("A", DRIVER, "api", CRITICAL, "x", 1.0, 1.0))
    got = scrape(store)
    assert value(got, "fedprobe_check_failures_total", reason="internal") == 1


def test_phase_series_skip_what_did_not_run() -> None:
    store = scheduled(("A", "keystone", 60.0))
    store.record(run("keystone", CRITICAL, reason="catalog_compute", phases=(
        PhaseRun("auth", OK, True, 0.2), PhaseRun("catalog_compute", CRITICAL, False, 0.1),
        PhaseRun("version_compute", OK, None, None))))
    got = scrape(store)
    ran = {s.labels["phase"]: s.value for s in got if s.name == "fedprobe_phase_ran"}
    assert ran == {"auth": 1, "catalog_compute": 1, "version_compute": 0}
    status = {s.labels["phase"]: s.value for s in got if s.name == "fedprobe_phase_status"}
    assert status == {"auth": OK, "catalog_compute": CRITICAL}  # no state without evidence
    success = {s.labels["phase"]: s.value for s in got if s.name == "fedprobe_phase_success"}
    assert success == {"auth": 1, "catalog_compute": 0}
    seconds = {s.labels["phase"]: s.value for s in got
               if s.name == "fedprobe_phase_last_duration_seconds"}
    assert seconds == {"auth": 0.2, "catalog_compute": 0.1}
    # VM-only series and the phase histogram are not made for other checks
    assert not names(got) & {"fedprobe_vm_leaked", "fedprobe_vm_leaks_total",
                             "fedprobe_vm_reachable", "fedprobe_vm_boot_seconds",
                             "fedprobe_phase_duration_seconds_count"}


def test_vm_series() -> None:
    store = scheduled(("A", "vm", 900.0))
    store.record(run("vm", CRITICAL, reason="reach_v6", phases=vm_phases(),
                     reachable=(("ipv4", True), ("ipv6", False))))
    got = scrape(store)
    assert value(got, "fedprobe_vm_reachable", site="A", driver=DRIVER, family="ipv4") == 1
    assert value(got, "fedprobe_vm_reachable", family="ipv6") == 0
    assert value(got, "fedprobe_vm_boot_seconds", site="A", driver=DRIVER) == 30.0
    assert value(got, "fedprobe_vm_leaked") == 0 and value(got, "fedprobe_vm_leaks_total") == 0
    store.record(run("vm", CRITICAL, reason="boot", phases=vm_phases(boot=False), leaked=1))
    got = scrape(store)
    assert value(got, "fedprobe_vm_boot_seconds") is None   # boot did not pass
    assert value(got, "fedprobe_vm_reachable") is None      # the run did not get that far
    assert value(got, "fedprobe_phase_success", phase="reach_v4") is None
    assert value(got, "fedprobe_phase_success", phase="boot") == 0
    assert value(got, "fedprobe_vm_leaked") == 1 and value(got, "fedprobe_vm_leaks_total") == 1
    store.record(run("vm", OK, phases=vm_phases()))
    got = scrape(store)
    assert value(got, "fedprobe_vm_leaked") == 0 and value(got, "fedprobe_vm_leaks_total") == 1


def test_credential_expiry() -> None:
    store = scheduled(("A", "proxy", 300.0), ("A", "token", 300.0))
    store.record(run("proxy", expiries=(("proxy", 1.9e9), ("voms_ac", 1.8e9))))
    store.record(run("token", CRITICAL, reason="credential", expiries=(("token", 1.7e9),)))
    got = scrape(store)
    expiry = {(s.labels["check"], s.labels["kind"]): s.value for s in got
              if s.name == "fedprobe_credential_expiry_timestamp_seconds"}
    assert expiry == {("proxy", "proxy"): 1.9e9, ("proxy", "voms_ac"): 1.8e9,
                      ("token", "token"): 1.7e9}


def test_phase_histogram_is_cumulative_and_vm_only() -> None:
    store = scheduled(("A", "vm", 900.0), ("A", "api", 120.0))
    for boot in (0.05, 3.0, 700.0):  # on a bound, inside, above every bound
        store.record(run("vm", phases=vm_phases(boot_seconds=boot)))
    store.record(run("api", phases=(PhaseRun("flavors", OK, True, 0.3),)))
    got = scrape(store)
    buckets = [(s.labels["le"], s.value) for s in got
               if s.name == "fedprobe_phase_duration_seconds_bucket"
               and s.labels["phase"] == "boot"]
    assert [le for le, _ in buckets] == [*(str(float(b)) for b in PHASE_BUCKETS), "+Inf"]
    counts = dict(buckets)
    assert (counts["0.05"], counts["2.5"], counts["5.0"], counts["600.0"], counts["+Inf"]) == \
        (1, 1, 2, 2, 3)
    assert all(a <= b for (_, a), (_, b) in itertools.pairwise(buckets))
    assert value(got, "fedprobe_phase_duration_seconds_count", phase="boot") == 3
    assert value(got, "fedprobe_phase_duration_seconds_sum", phase="boot") == \
        pytest.approx(703.05)
    assert value(got, "fedprobe_phase_duration_seconds_count", phase="reach_v4") == 3
    assert value(got, "fedprobe_phase_duration_seconds_count", check="api") is None


def test_skipped_phases_are_not_observed() -> None:
    store = Store()
    store.record(run("vm", CRITICAL, reason="boot", phases=vm_phases(boot=False)))
    got = scrape(store)
    assert value(got, "fedprobe_phase_duration_seconds_count", phase="boot") == 1
    assert value(got, "fedprobe_phase_duration_seconds_count", phase="mjf") is None


def test_histogram_bounds_are_inclusive() -> None:
    h = Histogram((1.0, 2.0))
    for v in (0.0, 1.0, 1.5, 2.0, 2.5, math.inf):
        h.observe(v)
    assert h.cumulative() == [("1.0", 2.0), ("2.0", 4.0), ("+Inf", 6.0)]
    assert h.count == 6


def test_configure_drops_removed_checks_and_keeps_the_others() -> None:
    store = scheduled(("A", "vm", 900.0), ("A", "keystone", 60.0), ("B", "vm", 900.0))
    for site, check in (("A", "vm"), ("A", "keystone"), ("B", "vm")):
        store.record(run(check, CRITICAL, site=site, phases=vm_phases(), leaked=1))
    version = store.version
    store.configure([("A", "vm", DRIVER, 600.0, ())])
    assert store.version > version
    got = scrape(store)
    assert {(s.labels.get("site"), s.labels.get("check")) for s in got} == {("A", "vm"),
                                                                            ("A", None)}
    assert value(got, "fedprobe_check_interval_seconds", site="A", check="vm") == 600.0
    assert value(got, "fedprobe_check_runs_total", site="A", check="vm") == 1  # kept
    store.configure([("A", "vm", DRIVER, 600.0, ()), ("A", "keystone", DRIVER, 60.0, ())])
    got = scrape(store)
    assert value(got, "fedprobe_check_interval_seconds", check="keystone") == 60.0
    assert value(got, "fedprobe_check_runs_total", check="keystone") == 0  # starts afresh
    assert value(got, "fedprobe_check_failures_total", check="keystone") is None  # no reasons


@pytest.mark.parametrize("check", ["vm", "keystone", "api", "proxy", "token"])
def test_counters_are_born_at_zero_when_a_check_is_configured(check: str) -> None:
    """increase() over a counter that appears at its first failure misses that failure: every
    reason of a configured check is there at 0 before anything ran."""
    got = scrape(scheduled(("A", check, 60.0)))
    reasons = {s.labels["reason"]: s.value for s in got
               if s.name == "fedprobe_check_failures_total"}
    expected = {"timeout", "internal", "interrupted", "config", "auth" if check in (
        "vm", "keystone", "api") else "credential"}
    assert expected <= set(reasons) and set(reasons.values()) == {0.0}
    assert set(reasons) == set(failure_reasons(check))
    assert value(got, "fedprobe_check_runs_total", check=check) == 0
    assert value(got, "fedprobe_check_status") is None  # but nothing claims a state
    assert value(got, "fedprobe_phase_ran") is None
    if check == "vm":
        assert {"boot", "discover", "gone", "delete"} <= set(reasons)
        assert value(got, "fedprobe_vm_leaks_total") == 0
    if check == "keystone":
        assert {"catalog_compute", "version_image"} <= set(reasons)


def test_only_scheduled_ignores_runs_of_removed_checks() -> None:
    store = scheduled(("A", "vm", 900.0))
    version = store.version
    store.record(run("keystone", CRITICAL), only_scheduled=True)
    assert store.version == version and store.get("A", "keystone") == (None, [])
    assert value(scrape(store), "fedprobe_check_status") is None
    store.record(run("vm", OK), only_scheduled=True)
    assert store.version > version
    assert value(scrape(store), "fedprobe_check_status", check="vm") == OK


def test_history_newest_first_and_bounded() -> None:
    store = Store(history=3)
    store.configure([("A", "api", DRIVER, 60.0, ())])
    for n in range(5):
        store.record(run("api", started=float(n)))
    latest, history = store.get("A", "api")
    assert latest is not None and latest.started == 4.0
    assert [r.started for r in history] == [4.0, 3.0, 2.0]
    store.configure([("A", "api", DRIVER, 60.0, ())], history=2)
    assert [r.started for r in store.get("A", "api")[1]] == [4.0, 3.0]


def test_oneshot_has_no_counters_histograms_or_schedule() -> None:
    store = scheduled(("A", "vm", 900.0))
    store.record(run("vm", CRITICAL, reason="boot", phases=vm_phases(boot=False), leaked=1))
    got = names(scrape(store, oneshot=True))
    assert {"fedprobe_check_status", "fedprobe_check_success", "fedprobe_phase_status",
            "fedprobe_vm_leaked", "fedprobe_check_last_run_timestamp_seconds"} <= got
    assert not {n for n in got if n.endswith(("_total", "_bucket", "_count", "_sum"))}
    assert "fedprobe_check_interval_seconds" not in got
    assert "fedprobe_check_consecutive_failures" not in got


def full_store() -> Store:
    """A store that makes the collector emit every series it can."""
    store = scheduled(("A", "vm", 900.0), ("A", "proxy", 300.0), ("B", "keystone", 60.0))
    store.record(run("vm", CRITICAL, reason="reach_v6", phases=vm_phases(), leaked=1,
                     reachable=(("ipv4", True), ("ipv6", False))))
    store.record(run("vm", OK, phases=vm_phases(), reachable=(("ipv4", True),)))
    store.record(run("proxy", WARNING, phases=(PhaseRun("credential", WARNING, True, 0.1),),
                     expiries=(("proxy", 1.9e9), ("voms_ac", 1.8e9))))
    store.record(run("keystone", CRITICAL, site="B", reason="auth",
                     phases=(PhaseRun("auth", CRITICAL, False, 0.2),)))
    return store


def test_every_series_served_is_documented() -> None:
    documented = documented_series()
    served = names(scrape(full_store()))
    assert len(served) >= 20
    assert served - documented == set()
    assert names(scrape(full_store(), oneshot=True)) - documented == set()


def test_the_exporters_own_series_are_documented(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "sites.yaml").write_text(yaml.safe_dump({"sites": {"A": {
        "image": {"name": "cirros"},
        "auth": {"type": "password", "auth_url": "https://k.example.org/v3", "username": "u",
                 "password_file": str(tmp_path / "pw"), "project_name": "p"}}}}))
    (tmp_path / "exporter.yaml").write_text("sites_file: sites.yaml\n")
    exporter = Exporter(tmp_path / "exporter.yaml")  # not started: nothing runs
    text = exporter.metrics().decode()
    served = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert {"fedprobe_exporter_workers", "fedprobe_exporter_sites"} <= served
    assert served - documented_series() == set()


def test_present_vms_stay_known_when_a_run_cannot_look() -> None:
    store = Store()
    store.configure([("A", "vm", DRIVER, 60.0, ())])
    store.record(run("vm", CRITICAL, leaked=1, present=1))
    store.record(run("vm", CRITICAL, reason="auth"))  # auth failed: no sweep, no look
    series = store._series[("A", "vm")]
    assert series.present == 1 and series.latest is not None and series.latest.leaked == 0
    store.record(run("vm", OK, present=0))
    assert store._series[("A", "vm")].present == 0
