"""Turning check results into CheckRuns: VM lifecycle results (state, reason, phases,
reachability, leaks), the per-run deadlines, and the token and proxy checks on real files."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from exporters.config import ExporterConfig, Job, load
from exporters.model import CRITICAL, OK, UNKNOWN, WARNING, CheckRun
from exporters.runchecks import deadlines, run_check, vm_run
from probes.config.site import parse as parse_site
from probes.deadline import Deadline
from probes.runner.result import PHASES, LifecycleResult, Outcome, Phase
from tests.pki import VO, Pki, make_pki
from tests.tokens import jwt

AUTH = {"type": "password", "auth_url": "https://keystone.example.org:5000/v3",
        "username": "u", "password": "pw", "project_name": "p"}
SITE = parse_site({"name": "S", "auth": AUTH, "image": {"name": "cirros"},
                            "policy": {"ipv6": "required"}})
AFTER_BOOT = ("reach_v4", "reach_v6", "context", "mjf")


def lifecycle(changes: dict[str, tuple[Outcome, str]] | None = None, leaked: str | None = None,
              interrupted: str | None = None) -> LifecycleResult:
    """Every phase PASSED (phase i took i + 0.5 s) but the changed ones; skipped ones untimed."""
    phases = []
    for i, name in enumerate(PHASES):
        outcome, detail = (changes or {}).get(name, (Outcome.PASSED, "fine"))
        seconds = None if outcome == Outcome.SKIPPED else i + 0.5
        phases.append(Phase(name, outcome, detail, seconds))
    return LifecycleResult("S", "openstack", "run1", tuple(phases), 42.0, "srv-1", leaked,
                           interrupted)


def skipped(names: tuple[str, ...], why: str) -> dict[str, tuple[Outcome, str]]:
    return {n: (Outcome.SKIPPED, why) for n in names}


# -- vm ------------------------------------------------------------------------------------------
def test_all_passed() -> None:
    run = vm_run(lifecycle(), SITE, 1000.0)
    assert (run.state, run.reason, run.success, run.leaked) == (OK, "", True, 0)
    assert run.reachable == (("ipv4", True), ("ipv6", True))
    assert (run.site, run.driver, run.check, run.started, run.duration) == \
        ("S", "openstack", "vm", 1000.0, 42.0)
    assert [p.name for p in run.phases] == list(PHASES)
    assert all(p.passed and p.state == OK for p in run.phases)
    boot = run.phase("boot")
    assert boot is not None and boot.seconds == 4.5
    assert run.summary.startswith("FEDCLOUD_VM OK - VM lifecycle OK at S")
    assert "\n" not in run.summary and " | " not in run.summary  # perfdata is for Nagios
    assert run.log.startswith(f"{run.summary} | ")  # the debug log keeps the whole output


def test_ipv6_required_and_unreachable() -> None:
    run = vm_run(lifecycle({"reach_v6": (Outcome.FAILED, "[2001:db8::1]:22 timed out")}),
                 SITE, 0.0)
    assert (run.state, run.reason) == (CRITICAL, "reach_v6")
    assert run.reachable == (("ipv4", True), ("ipv6", False))
    v6 = run.phase("reach_v6")
    assert v6 is not None and (v6.state, v6.passed) == (CRITICAL, False)


def test_ipv6_informational_is_reported_ok_with_the_finding() -> None:
    site = parse_site({**SITE.model_dump(), "policy": {"ipv6": "informational"}})
    run = vm_run(lifecycle({"reach_v6": (Outcome.FAILED, "no IPv6 address")}), site, 0.0)
    assert (run.state, run.reason) == (OK, "")
    assert run.summary.endswith("; reach_v6: no IPv6 address (IPv6 informational)")
    assert run.reachable == (("ipv4", True), ("ipv6", False))  # no address: not reachable
    v6 = run.phase("reach_v6")
    assert v6 is not None and (v6.ran, v6.state, v6.passed, v6.finding) == (True, OK, False,
                                                                            True)


def test_ipv6_off_is_not_checked_and_claims_nothing() -> None:
    site = parse_site({**SITE.model_dump(), "policy": {"ipv6": "off"}})
    run = vm_run(lifecycle({"reach_v6": (Outcome.SKIPPED, "not checked (site policy: ipv6 "
                                                          "off)")}), site, 0.0)
    assert run.state == OK and run.reachable == (("ipv4", True),)
    v6 = run.phase("reach_v6")
    assert v6 is not None and not v6.ran and v6.seconds is None


def test_boot_failed_later_phases_skipped() -> None:
    run = vm_run(lifecycle({"boot": (Outcome.FAILED, "status ERROR"),
                            **skipped(AFTER_BOOT, "not run: boot did not pass")}), SITE, 0.0)
    assert (run.state, run.reason, run.reachable) == (CRITICAL, "boot", ())
    for name in AFTER_BOOT:
        phase = run.phase(name)
        assert phase is not None and (phase.passed, phase.seconds) == (None, None)
    gone = run.phase("gone")
    assert gone is not None and gone.passed  # cleanup still ran and passed


def test_leaked_server() -> None:
    run = vm_run(lifecycle({"delete": (Outcome.FAILED, "HTTP 500"),
                            "gone": (Outcome.SKIPPED, "not run")}, leaked="srv-1"), SITE, 0.0)
    assert (run.state, run.reason, run.leaked) == (CRITICAL, "delete", 1)
    assert "srv-1 was NOT deleted" in run.summary


def test_interrupted() -> None:
    run = vm_run(lifecycle({"boot": (Outcome.UNAVAILABLE, "SIGTERM after 3.0s"),
                            **skipped(AFTER_BOOT, "not run: interrupted by SIGTERM")},
                           interrupted="SIGTERM"), SITE, 0.0)
    assert (run.state, run.reason) == (UNKNOWN, "interrupted")
    assert run.summary.startswith("FEDCLOUD_VM UNKNOWN - interrupted by SIGTERM")


def test_a_run_past_its_soft_deadline_failed_by_timeout() -> None:
    result = lifecycle({"boot": (Outcome.FAILED, "deadline reached after 500.0s"),
                        **skipped(AFTER_BOOT, "not run: boot did not pass")})
    assert vm_run(result, SITE, 0.0, Deadline(0.0)).reason == "timeout"
    assert vm_run(result, SITE, 0.0, Deadline(60.0)).reason == "boot"


# -- deadlines -----------------------------------------------------------------------------------
@pytest.mark.parametrize("timeout", [2.0, 10.0, 30.0, 600.0])
def test_deadlines_soft_before_hard_before_timeout(timeout: float) -> None:
    soft, hard = deadlines(timeout)
    assert 0 < soft.left() < hard.left() < timeout
    assert hard.left() == pytest.approx(timeout - 0.5, abs=0.05)  # time to record the result
    soft.cancel("test")
    assert not hard.cancelled and hard.left() > 0  # cleanup keeps its time


@pytest.mark.parametrize("timeout", [2.0, 4.0, 30.0])
def test_a_check_with_nothing_to_clean_up_gets_its_whole_timeout(timeout: float) -> None:
    """A /probe with a 4 s scrape timeout once left a fast check 1.5 s (a VM run's cleanup
    share); read-only checks keep all but the exit margin."""
    soft, hard = deadlines(timeout, cleanup=False)
    assert soft.left() == pytest.approx(timeout - 0.5, abs=0.05)
    assert hard.left() == pytest.approx(soft.left(), abs=0.05)
    soft.cancel("test")
    assert not hard.cancelled


# -- token and proxy -----------------------------------------------------------------------------
def configured(tmp_path: Path, check: str, options: dict[str, object],
               vo: str | None = None) -> tuple[ExporterConfig, Job]:
    """A config with one site and only this check enabled (written and loaded for real)."""
    (tmp_path / "pw").write_text("pw\n")
    auth = {k: v for k, v in AUTH.items() if k != "password"}
    (tmp_path / "sites.yaml").write_text(yaml.safe_dump({"sites": {"S": {
        "image": {"name": "cirros"}, "auth": {**auth, "password_file": str(tmp_path / "pw")}}}}))
    checks: dict[str, dict[str, object]] = {c: {"enabled": False}
                                            for c in ("vm", "keystone", "api")}
    checks[check] = {"enabled": True, **options}
    data: dict[str, object] = {"sites_file": "sites.yaml", "checks": checks}
    if vo:
        data["vo"] = vo
    (tmp_path / "exporter.yaml").write_text(yaml.safe_dump(data))
    config = load(tmp_path / "exporter.yaml")
    (job,) = config.jobs
    return config, job


def run_now(config: ExporterConfig, job: Job) -> CheckRun:
    soft, hard = deadlines(job.options.timeout)
    import os

    from probes.runner.custody import make

    return run_check(job, config, make("exporter", "monitor.example.org", None, os.environ),
                     soft, hard)


@pytest.mark.parametrize("left,state,words", [  # what `fedprobe token` says: the same code
    (3600, OK, "access token {token} valid 0h59m"),
    (300, WARNING, "access token has 0h04m left (warning range 600:)"),
    (-600, CRITICAL, "access token expired 0h10m ago"),
])
def test_token_expiry_states(tmp_path: Path, left: int, state: int, words: str) -> None:
    token = tmp_path / "token"
    config, job = configured(tmp_path, "token", {"file": str(token)})
    assert (job.options.warning, job.options.critical) == (600.0, 120.0)
    exp = int(time.time()) + left
    token.write_text(jwt({"exp": exp, "sub": "robot"}) + "\n")
    run = run_now(config, job)
    assert (run.check, run.state, run.success) == ("token", state, state != CRITICAL)
    assert run.reason == ("credential" if state == CRITICAL else "")
    assert run.summary.startswith(f"OIDC_TOKEN {('OK', 'WARNING', 'CRITICAL')[state]} - ")
    assert words.format(token=token) in run.summary
    assert "time_left=" in run.log and "time_left=" not in run.summary  # perfdata: log only
    ((kind, expires),) = run.expiries
    assert kind == "token" and expires == pytest.approx(exp, abs=2)
    assert [(p.name, p.state) for p in run.phases] == [("credential", state)]


@pytest.mark.parametrize("make,needle", [
    (lambda p: None, "token file {token}: no such file"),
    (lambda p: p.mkdir(), "token file {token}: is a directory, not a regular file"),
    (lambda p: p.write_text("not-a-jwt\n"),
     "the access token is not a JWT (cannot tell when it expires)"),
    (lambda p: p.write_text(jwt({"sub": "x"})), "the access token has no numeric exp claim"),
])
def test_unreadable_token_file_is_critical_never_a_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, make: Callable[[Path], object],
        needle: str) -> None:
    token = tmp_path / "token"
    config, job = configured(tmp_path, "token", {"file": str(token)})
    make(token)
    with caplog.at_level(logging.DEBUG):
        run = run_now(config, job)
    assert (run.state, run.reason, run.expiries) == (CRITICAL, "credential", ())
    assert run.summary == f"OIDC_TOKEN CRITICAL - {needle.format(token=token)}"
    assert not [r for r in caplog.records if r.exc_info]


def test_binary_token_file_is_critical(tmp_path: Path) -> None:
    token = tmp_path / "token"
    config, job = configured(tmp_path, "token", {"file": str(token)})
    token.write_bytes(b"\xff\xfe\x00garbage")
    run = run_now(config, job)
    assert (run.state, run.reason) == (CRITICAL, "credential")


def test_a_secret_file_gone_since_load_is_a_config_failure(tmp_path: Path) -> None:
    token = tmp_path / "token"
    config, job = configured(tmp_path, "token", {"file": str(token)})
    (tmp_path / "pw").unlink()
    run = run_now(config, job)
    assert (run.state, run.reason) == (UNKNOWN, "config")
    assert "auth.password_file: the file it names: no such file" in run.summary


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("hours,state,words", [  # what `fedprobe proxy` says: the same code
    (24, OK, "valid 2"), (6, WARNING, "left (warning range 43200:)"),
    (2, CRITICAL, "left (critical range 10800:)"),
])
def test_proxy_expiry_states(tmp_path: Path, pki: Pki, hours: int, state: int,
                             words: str) -> None:
    path = pki.proxy(f"proxy{hours}", hours=hours)
    config, job = configured(tmp_path, "proxy", {"file": str(path), "cacert": str(pki.certdir)},
                             vo=VO)
    run = run_now(config, job)
    assert (run.check, run.state) == ("proxy", state)
    assert run.summary.startswith(f"X509_PROXY {('OK', 'WARNING', 'CRITICAL')[state]} - proxy ")
    assert words in run.summary
    expiry = dict(run.expiries)
    assert set(expiry) == {"proxy", "voms_ac"}
    assert expiry["proxy"] == pytest.approx(time.time() + hours * 3600, abs=3700)


def test_expired_proxy_and_missing_file(tmp_path: Path, pki: Pki) -> None:
    path = pki.proxy("expired", pastproxy="13:00", pastac="13:00")
    config, job = configured(tmp_path, "proxy", {"file": str(path)}, vo=VO)
    run = run_now(config, job)
    assert (run.state, run.reason) == (CRITICAL, "credential")
    assert "proxy expired 1h0" in run.summary and dict(run.expiries)["proxy"] < time.time()
    path.unlink()
    run = run_now(config, job)
    assert (run.state, run.expiries) == (CRITICAL, ())
    assert str(path) in run.summary and "no such file" in run.summary


# -- no evidence, no state -------------------------------------------------------------------------
@pytest.mark.parametrize("oneshot", [False, True], ids=["exporter", "textfile-pushgateway"])
def test_a_refused_login_exports_no_state_for_the_phases_that_never_ran(oneshot: bool) -> None:
    from exporters.store import Store
    from tests.unit.test_exporter_store import scrape

    run = vm_run(lifecycle({"auth": (Outcome.FAILED, "credentials refused"),
                            **skipped(PHASES[1:], "not run: auth did not pass")}), SITE, 0.0)
    store = Store()
    store.record(run)
    got = scrape(store, oneshot)

    def by_phase(name: str) -> dict[str, float]:
        return {s.labels["phase"]: s.value for s in got if s.name == name}

    assert by_phase("fedprobe_phase_ran") == {"auth": 1, **dict.fromkeys(PHASES[1:], 0)}
    assert by_phase("fedprobe_phase_status") == {"auth": CRITICAL}
    assert by_phase("fedprobe_phase_success") == {"auth": 0}
    assert by_phase("fedprobe_phase_last_duration_seconds") == {"auth": 0.5}
    assert not [s for s in got if s.name.startswith("fedprobe_vm_reachable")]


def test_console_forbidden_is_not_a_phase_that_ran() -> None:
    site = parse_site({**SITE.model_dump(), "policy": {"console_forbidden":
                                                                "critical"}})
    run = vm_run(lifecycle({"context": (Outcome.UNAVAILABLE, "console output not allowed"),
                            "mjf": (Outcome.SKIPPED, "no guest report to read MJF from")}),
                 site, 0.0)
    assert (run.state, run.reason) == (CRITICAL, "context")  # the run says why it failed
    context = run.phase("context")
    assert context is not None and not context.ran and context.seconds is None
