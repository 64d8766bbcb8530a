"""The lifecycle runner against the in-memory fake cloud (tests/fakecloud.py): every phase's
outcomes, the failures, cleanup after exceptions, the deadline, a signal's stop, the leak path and
a lost create answer — in milliseconds, with real TCP only to listeners on loopback."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from probes.deadline import Deadline
from probes.runner.inbox import listener
from probes.runner.lifecycle import LifecycleRunner
from probes.runner.result import PHASES, LifecycleResult, Outcome
from probes.runner.sweep import KEY_HOST, KEY_MACHINE, KEY_PROBE, KEY_ROLE, KEY_RUN
from tests.fakecloud import HOST, MACHINE, FakeCloud, custody, site

MINE = {KEY_HOST: HOST, KEY_MACHINE: MACHINE, KEY_PROBE: "vm"}


def keeper(cloud: FakeCloud, **kw: Any) -> Any:
    """The custody of a run over the fake cloud, with this test's state directory."""
    return custody(cloud, **kw)


def run(cloud: FakeCloud, port: int, *, soft: float = 5.0, hard: float = 8.0,
        **site_overrides: Any) -> LifecycleResult:
    runner = LifecycleRunner(site(port=port, **site_overrides), keeper(cloud), Deadline(soft),
                             Deadline(hard), cloud.driver, cloud.channel)
    return runner.run()


def outcomes(result: LifecycleResult) -> dict[str, Outcome]:
    return {p.name: p.outcome for p in result.phases}


def test_every_phase_passes_on_a_healthy_cloud(cloud: FakeCloud, port: int) -> None:
    start = time.monotonic()
    result = run(cloud, port)
    assert outcomes(result) == {p: Outcome.PASSED for p in PHASES}
    assert result.leaked_server_id is None and result.interrupted is None
    assert cloud.live() == []
    assert time.monotonic() - start < 1.0  # milliseconds, not a cloud's minutes
    assert result.phase("mjf").detail == "10 keys valid (via env)"  # the fake guest's keys
    posted = " (report posted home)" if cloud.channel else ""
    assert result.phase("context").detail == \
        f"user-data ran (nonce matched); metadata via config-2{posted}"
    server = result.server_id
    assert server and result.phase("create").detail == f"server {server} accepted"
    assert result.phase("reach_v6").detail.startswith(f"[::1]:{port} open after")


def test_the_probe_vm_carries_this_host_and_run(cloud: FakeCloud, port: int) -> None:
    cloud.faults.on_call["status"] = lambda: seen.update(
        next(iter(cloud.servers.values())).spec.tags)
    seen: dict[str, str] = {}
    result = run(cloud, port)
    assert seen == {KEY_HOST: HOST, KEY_MACHINE: MACHINE, KEY_PROBE: "vm", KEY_ROLE: "plugin",
                    KEY_RUN: result.run_id}


def test_auth_failure_runs_nothing_and_creates_nothing(cloud: FakeCloud, port: int) -> None:
    cloud.faults.login_error = ("password login at https://k.example/v3 failed: credentials "
                                "refused")
    runner = LifecycleRunner(site(port=port), keeper(cloud), Deadline(5), Deadline(8), cloud.driver)
    result = runner.run()
    assert result.phase("auth").outcome == Outcome.FAILED
    assert result.phase("auth").detail == cloud.faults.login_error
    assert all(result.phase(p).outcome == Outcome.SKIPPED for p in PHASES[1:])
    assert result.phase("delete").detail == "not run: auth did not pass"
    assert cloud.calls == ["connect"]


def test_discovery_failure_says_what_is_there(cloud: FakeCloud, port: int) -> None:
    cloud.faults.missing_image = True
    result = run(cloud, port)
    assert result.phase("discover").outcome == Outcome.FAILED
    assert result.phase("discover").data["available"] == ["ubuntu-22.04"]
    assert "create" not in cloud.calls and cloud.live() == []


@pytest.mark.parametrize("fault,phase,needle", [
    ({"create_error": "HTTP 403: Quota exceeded"}, "create", "Quota exceeded"),
    ({"boot_error": "No valid host was found."}, "boot", "status ERROR: No valid host"),
])
def test_create_and_boot_failures_still_delete(cloud: FakeCloud, port: int,
                                               fault: dict[str, str], phase: str,
                                               needle: str) -> None:
    for k, v in fault.items():
        setattr(cloud.faults, k, v)
    result = run(cloud, port)
    assert result.phase(phase).outcome == Outcome.FAILED and needle in result.phase(phase).detail
    later = PHASES[PHASES.index(phase) + 1:PHASES.index("delete")]
    assert all(result.phase(p).outcome == Outcome.SKIPPED for p in later)
    assert cloud.live() == [] and result.leaked_server_id is None
    if phase == "boot":
        assert outcomes(result)["gone"] == Outcome.PASSED


def test_a_stuck_build_ends_at_the_deadline_and_is_deleted(cloud: FakeCloud, port: int) -> None:
    cloud.faults.stuck_build = True
    start = time.monotonic()
    result = run(cloud, port, soft=0.4, hard=3.0)
    assert result.phase("boot").outcome == Outcome.FAILED
    assert result.phase("boot").detail.startswith("deadline reached after 0.")
    assert time.monotonic() - start < 2.0
    assert cloud.live() == [] and result.phase("gone").outcome == Outcome.PASSED


def test_unreachable_addresses_fail_reach_but_the_run_goes_on(cloud: FakeCloud) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        closed = s.getsockname()[1]
    result = run(cloud, closed, soft=0.6)
    assert result.phase("reach_v4").outcome == Outcome.FAILED
    assert result.phase("reach_v6").outcome == Outcome.FAILED
    assert "Connection refused" in result.phase("reach_v4").detail
    # Each reach may take up to 60 s of the run: here the first took all of it, so context had
    # no time left and says so (with -t 300 both reach phases fit and context still runs).
    if cloud.channel:  # the report came home while reach waited: reading it sends nothing
        assert result.phase("context").outcome == Outcome.PASSED
    else:
        assert result.phase("context").detail.startswith("no console read after 0.0s")
    assert cloud.live() == []


def test_no_ipv6_address_is_a_finding_of_a_phase_that_ran(cloud: FakeCloud, port: int) -> None:
    cloud.addresses = ((4, "127.0.0.1"),)
    result = run(cloud, port)
    assert result.phase("reach_v6").outcome == Outcome.FAILED  # it looked and found none
    assert result.phase("reach_v6").detail == "no IPv6 address"


@pytest.mark.parametrize("policy,phases", [
    ({"ipv6": "off"}, ("reach_v6",)),
    ({"ipv4": "off", "ipv6": "off"}, ("reach_v4", "reach_v6")),
    ({"context": "off", "mjf": "off"}, ("context", "mjf")),
])
def test_a_check_the_policy_turns_off_does_not_run(cloud: FakeCloud, port: int,
                                                    policy: dict[str, str],
                                                    phases: tuple[str, ...]) -> None:
    result = run(cloud, port, policy=policy)
    for name in phases:
        assert result.phase(name).outcome == Outcome.SKIPPED
        assert result.phase(name).detail.startswith("not checked (site policy: ")
    if "context" in policy:
        assert "console" not in cloud.calls
    assert result.phase("gone").outcome == Outcome.PASSED


@pytest.mark.parametrize("cloud", ["openstack-like"], indirect=True)  # a console to forbid
def test_console_forbidden_is_unavailable_not_failed(cloud: FakeCloud, port: int) -> None:
    cloud.faults.console_forbidden = True
    result = run(cloud, port)
    assert result.phase("context").outcome == Outcome.UNAVAILABLE
    assert result.phase("mjf").outcome == Outcome.SKIPPED
    assert result.phase("mjf").detail == "no guest report to read MJF from"
    assert cloud.live() == []


@pytest.mark.parametrize("cloud", ["openstack-like"], indirect=True)
def test_a_forbidden_console_and_no_post_say_both(cloud: FakeCloud, port: int) -> None:
    cloud.faults.console_forbidden = cloud.faults.cannot_post = True
    with listener("127.0.0.1:0") as channel:
        cloud.channel = channel
        result = run(cloud, port, soft=1.0)
        context = result.phase("context")
        assert context.outcome == Outcome.FAILED
        assert context.detail.startswith(f"the guest posted no report to {channel.url}")
        assert "; console output not allowed by the site: console output: HTTP 403" in \
            context.detail
        cloud.faults.cannot_post = False  # the post comes: the forbidden console is no matter
        result = run(cloud, port)
        assert result.phase("context").outcome == Outcome.PASSED
        assert result.phase("context").detail.endswith("(report posted home)")


@pytest.mark.parametrize("cloud,guest,needle", [
    ("openstack-like", {"runs_user_data": False}, "no report of this run on the console (yet)"),
    ("console-less", {"runs_user_data": False}, "the guest posted no report to http://"),
    ("openstack-like", {"complete": False}, "the report is incomplete"),
    ("console-less", {"complete": False}, "the report is incomplete"),
], indirect=["cloud"])
def test_no_proof_of_user_data_fails_context_at_its_deadline(
        cloud: FakeCloud, port: int, guest: dict[str, bool], needle: str) -> None:
    for k, v in guest.items():
        setattr(cloud.guest, k, v)
    result = run(cloud, port, soft=0.6)
    context = result.phase("context")
    assert context.outcome == Outcome.FAILED and context.detail.startswith(needle)
    assert cloud.live() == []


def test_mjf_outcomes(cloud: FakeCloud, port: int) -> None:
    cloud.guest.mjf_source = "none"
    result = run(cloud, port)
    assert result.phase("mjf").outcome == Outcome.FAILED
    assert result.phase("mjf").detail == \
        "no machine/job features visible in the guest (source: none)"
    cloud.guest.machine = {"total_cpu": "two"}
    cloud.guest.mjf_source = "env"
    result = run(cloud, port)
    assert result.phase("mjf").outcome == Outcome.FAILED
    assert "total_cpu='two' is not a plain decimal integer" in result.phase("mjf").detail
    result = run(cloud, port, policy={"mjf": "off"})
    assert result.phase("mjf").outcome == Outcome.SKIPPED


def test_sweep_removes_only_this_machines_old_probe_vms(cloud: FakeCloud, port: int) -> None:
    mine_old = cloud.add_server({**MINE, KEY_RUN: "r0"}, age=7200)
    mine_young = cloud.add_server({**MINE, KEY_RUN: "r1"}, age=10)
    other_host = cloud.add_server({**MINE, KEY_HOST: "other.example.org", KEY_RUN: "r2"},
                                  age=7200)
    # the other half of an HA pair: the same monitoring host, another machine
    twin = cloud.add_server({**MINE, KEY_MACHINE: "fedcba9876543210", KEY_RUN: "r3"}, age=7200)
    untagged = cloud.add_server({KEY_HOST: HOST, KEY_PROBE: "vm", KEY_RUN: "r4"}, age=7200)
    users = cloud.add_server({"owner": "alice"}, age=7200)
    result = run(cloud, port)
    sweep = result.phase("sweep")
    assert sweep.outcome == Outcome.PASSED and sweep.data["removed"] == [mine_old]
    assert sweep.detail == "removed 1 stale probe VM(s) of this host"
    assert sorted(cloud.live()) == sorted([mine_young, other_host, twin, untagged, users])
    assert result.present == 1  # the young one: not proven dead, still there


def test_a_failing_sweep_delete_only_warns_and_counts_what_stays(cloud: FakeCloud,
                                                                 port: int) -> None:
    old = cloud.add_server({**MINE, KEY_RUN: "r0"}, age=7200)
    cloud.faults.delete_error = "HTTP 409: Cannot delete a locked server"
    result = run(cloud, port, hard=6.0)
    sweep = result.phase("sweep")
    assert sweep.outcome == Outcome.WARNED and sweep.data["failed"] == [old]
    assert "1 still there: delete: HTTP 409" in sweep.detail
    assert result.present == 2  # the leftover, and this run's VM (its delete failed too)


def test_a_delete_accepted_but_not_carried_out_is_not_counted_removed(cloud: FakeCloud,
                                                                      port: int) -> None:
    old = cloud.add_server({**MINE, KEY_RUN: "r0"}, age=7200)
    cloud.faults.delete_never_completes = True
    result = run(cloud, port, soft=2.0, hard=2.5)
    sweep = result.phase("sweep")
    assert sweep.outcome == Outcome.WARNED and sweep.data["removed"] == []
    assert sweep.data["failed"] == [old] and "still DELETING" in sweep.detail


def test_a_lost_create_answer_is_found_by_run_id_and_deleted(cloud: FakeCloud,
                                                             port: int) -> None:
    cloud.faults.create_answer_lost = True
    result = run(cloud, port)
    assert result.phase("create").outcome == Outcome.FAILED
    assert result.server_id is not None  # found again through its run id
    assert result.phase("delete").detail == f"delete of {result.server_id} accepted"
    assert cloud.live() == [] and result.leaked_server_id is None


@pytest.mark.parametrize("fault,value,failed", [
    ("delete_error", "HTTP 503: Service Unavailable", "delete"),
    ("error_after_delete", "Failed to delete the instance", "gone"),
    ("delete_never_completes", True, "gone"),
])
def test_an_undeletable_vm_is_reported_as_leaked(cloud: FakeCloud, port: int, fault: str,
                                                 value: Any, failed: str) -> None:
    setattr(cloud.faults, fault, value)
    result = run(cloud, port, hard=0.8)
    assert result.phase(failed).outcome == Outcome.FAILED
    assert result.leaked_server_id == result.server_id and cloud.live() == [result.server_id]


def test_a_slow_delete_is_waited_for_within_the_hard_deadline(cloud: FakeCloud,
                                                              port: int) -> None:
    cloud.faults.slow["delete"] = 0.3
    cloud.faults.gone_polls = 3
    result = run(cloud, port)
    assert result.phase("delete").duration and result.phase("delete").duration >= 0.3
    assert result.phase("gone").outcome == Outcome.PASSED and cloud.live() == []


def test_a_hanging_list_costs_the_sweep_its_share_and_the_run_goes_on(cloud: FakeCloud,
                                                                      port: int) -> None:
    cloud.faults.hang.add("list")
    result = run(cloud, port, soft=2.0, hard=4.0)
    sweep = result.phase("sweep")
    assert sweep.outcome == Outcome.FAILED and sweep.detail.startswith("deadline reached")
    assert sweep.duration is not None and sweep.duration < 0.25 * 2.0 + 0.1
    assert result.phase("create").outcome == Outcome.PASSED
    assert result.phase("gone").outcome == Outcome.PASSED and cloud.live() == []
    assert result.present is None  # the sweep could not look: no count


def test_no_vm_is_created_without_the_time_to_watch_and_delete_it(cloud: FakeCloud,
                                                                  port: int) -> None:
    cloud.faults.slow["discover"] = 1.2  # of a 2 s run: less than half is left
    result = run(cloud, port, soft=2.0, hard=4.0)
    create = result.phase("create")
    assert create.outcome == Outcome.FAILED and create.detail.startswith("not created: 0.")
    assert "too little to watch the VM and delete it" in create.detail
    assert "create" not in cloud.calls and cloud.live() == []
    assert result.phase("delete").outcome == Outcome.SKIPPED


def test_transient_poll_errors_are_repeated_within_the_deadline(cloud: FakeCloud,
                                                                port: int) -> None:
    cloud.faults.transient["status"] = 2
    result = run(cloud, port)
    boot = result.phase("boot")
    assert boot.outcome == Outcome.PASSED and boot.data["poll_errors"] == 2
    assert "2 status poll(s) failed and were repeated" in boot.detail
    assert cloud.live() == []


def test_a_503_on_a_gone_poll_does_not_make_a_leak(cloud: FakeCloud, port: int) -> None:
    cloud.faults.gone_polls = 3
    cloud.faults.on_call["delete"] = lambda: cloud.faults.transient.update(status=1)
    result = run(cloud, port)
    gone = result.phase("gone")
    assert gone.outcome == Outcome.PASSED and gone.data["poll_errors"] == 1
    assert not result.maybe_leaked and cloud.live() == []


def test_a_transient_delete_failure_is_repeated(cloud: FakeCloud, port: int) -> None:
    cloud.faults.on_call["create"] = lambda: cloud.faults.transient.update(delete=2)
    result = run(cloud, port)
    assert cloud.calls.count("delete") == 3
    assert result.phase("gone").outcome == Outcome.PASSED and cloud.live() == []


def test_polls_that_never_answer_after_a_delete_are_no_evidence_of_a_leak(
        cloud: FakeCloud, port: int) -> None:
    cloud.faults.on_call["delete"] = lambda: cloud.faults.transient.update(status=10 ** 6)
    result = run(cloud, port, soft=1.5, hard=2.5)
    gone = result.phase("gone")
    assert gone.outcome == Outcome.FAILED and gone.detail.startswith("could not confirm: ")
    assert result.leaked_server_id is None  # nobody saw it stay ...
    assert result.uncertain == (f"VM {result.server_id} may be left: its deletion was "
                                f"accepted but {gone.detail}")  # ... nor go


def test_a_signal_stops_the_phases_and_cleanup_still_deletes(cloud: FakeCloud,
                                                             port: int) -> None:
    soft = Deadline(5)
    cloud.faults.stuck_build = True
    cloud.faults.on_call["status"] = lambda: soft.cancel("SIGTERM")
    runner = LifecycleRunner(site(port=port), keeper(cloud), soft, Deadline(8), cloud.driver,
                             cloud.channel)
    result = runner.run()
    assert result.interrupted == "SIGTERM"
    assert result.phase("boot").outcome == Outcome.UNAVAILABLE
    assert result.phase("context").detail == "not run: interrupted by SIGTERM"
    cloud.faults.on_call.clear()
    assert result.phase("gone").outcome == Outcome.PASSED and cloud.live() == []


@pytest.mark.parametrize("cloud,call,phase", [
    (kind, call, phase) for kind in ("openstack-like", "console-less")
    for call, phase in (("discover", "discover"), ("list", "sweep"), ("create", "create"))
] + [("openstack-like", "console", "context")], indirect=["cloud"])
def test_an_unexpected_exception_fails_its_phase_and_deletes_the_vm(
        cloud: FakeCloud, port: int, call: str, phase: str) -> None:
    cloud.faults.raise_in[call] = KeyError("flavor")
    result = run(cloud, port)  # returns: nothing is re-raised
    failed = result.phase(phase)
    assert failed.outcome == Outcome.FAILED
    assert failed.detail == "internal error: KeyError: 'flavor'"
    assert cloud.live() == [] and result.leaked_server_id is None
    if phase != "sweep":  # sweep's failure is a finding, the run goes on
        later = PHASES[PHASES.index(phase) + 1:PHASES.index("delete")]
        assert all(result.phase(p).outcome == Outcome.SKIPPED for p in later)


def test_an_unexpected_exception_in_delete_is_a_leak(cloud: FakeCloud, port: int) -> None:
    cloud.faults.raise_in["delete"] = RuntimeError("a bug")
    result = run(cloud, port)
    assert result.phase("delete").outcome == Outcome.FAILED
    assert result.phase("delete").detail == "internal error: RuntimeError: a bug"
    assert result.leaked_server_id is not None and cloud.live() == [result.leaked_server_id]
