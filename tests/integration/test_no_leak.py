"""No leak, whatever happens (docs/cleanup.md), against the sandbox as an independent oracle:
`fedprobe vm` run as Nagios runs it, SIGKILLed alone or with its whole process group, lost
create answers (the sandbox commits the server before its late answer), paginated lists, 503s on
polls, signals during auth, undeletable leftovers, HA twins and the age floor."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from probes.runner.ledger import Ledger
from probes.sandbox import Sandbox
from tests.conftest import Api, make_config
from tests.integration.test_vm_plugin import no_vm_left, vm

pytestmark = pytest.mark.slow
HOST = "probe-test.example.org"


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(make_config(), tls=True)


def state() -> Path:
    return Path(os.environ["FEDPROBE_STATE_DIR"])


def start(sb: Sandbox, *args: str, timeout: int = 120) -> subprocess.Popen[str]:
    """`fedprobe vm` in a process group of its own, as Nagios 4 and Sensu start a plugin."""
    cmd = [sys.executable, "-m", "probes", "vm", "--sites", str(sb.sites_yaml), "--site",
           "sandbox", "-t", str(timeout), "--monitoring-host", HOST, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(cond: Callable[[], object], within: float, what: str) -> float:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < within, what
        time.sleep(0.05)
    return time.monotonic() - t0


def ops(sb: Sandbox, since: int = 0) -> list[str]:
    return [f"{r.method} {r.operation}" for r in sb.request_log(since)]


@pytest.mark.parametrize("group", [False, True], ids=["process", "process-group"])
def test_a_sigkill_mid_boot_leaves_nothing_within_seconds(sb: Sandbox, group: bool) -> None:
    sb.set_faults(latency={"boot": 60})
    proc = start(sb)
    wait_for(sb.live_servers, 30, "the probe never created its VM")
    time.sleep(0.5)  # well into boot: the create answer is in, status polls go on
    if group:  # what Nagios 4 and Sensu Go do at their timeout: no SIGTERM first
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    proc.wait()
    took = wait_for(lambda: not sb.live_servers(), 60, "the VM outlived the killed run")
    print(f"VM gone {took:.1f}s after the SIGKILL")
    assert took < 10
    wait_for(lambda: Ledger(state(), "sandbox").entries() == [], 5, "the ledger kept the run")
    wait_for(lambda: not list((state() / "runs").iterdir()), 5, "the run's lock file stayed")
    log = (state() / "guardian.log").read_text()
    assert "deleted (404 confirmed)" in log
    assert "sandbox-demo-pw" not in log and "password" not in log.lower()


def test_a_run_killed_while_its_create_is_on_the_way(sb: Sandbox) -> None:
    sb.set_faults(latency={"create": 3})  # the server is made at once, the answer is late
    proc = start(sb)
    wait_for(sb.live_servers, 30, "the create never reached the cloud")
    os.killpg(proc.pid, signal.SIGKILL)  # before the answer: the run never knew the id
    proc.wait()
    took = wait_for(lambda: not sb.live_servers(), 60, "the VM outlived the killed run")
    assert took < 15


def test_a_lost_create_answer_is_found_by_run_id_across_pages(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(make_config(max_limit=2), tls=True)
    api = Api(sb)
    theirs = [api.create_server(f"fedprobe-user-{i}").json()["server"]["id"] for i in range(5)]
    sb.set_faults(latency={"create": 30})  # the answer comes after the run gave up on it
    run = vm(sb, "-v", timeout=5)
    assert run.state == "CRITICAL" and run.phase("create").startswith("create    failed")
    assert re.search(r"^delete\s+passed .*delete of \S+ accepted", run.out, re.M), run.out
    assert re.search(r"^gone\s+passed", run.out, re.M), run.out
    assert "leaked=0" in run.perf
    assert sorted(s["id"] for s in sb.live_servers()) == sorted(theirs)
    # the list by run id followed Nova's next links (max_limit 2, six servers)
    assert any("marker=" in r.query for r in sb.request_log() if r.operation == "list")


def test_a_sigterm_during_auth_sends_nothing_after_it(sb: Sandbox) -> None:
    sb.set_faults(latency={"auth": 5})  # logged once answered: the run is in it for 5 s
    proc = start(sb)
    time.sleep(2.5)  # started (about 1 s) and waiting for its token
    assert not sb.request_log() and proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3, out
    assert out.startswith("FEDCLOUD_VM UNKNOWN - interrupted by SIGTERM"), out
    sent = {r.operation for r in sb.request_log()}
    assert "auth" in sent  # it was in auth ...
    assert not sent & {"images", "flavors", "networks", "list", "create"}, sent


def test_503s_on_status_polls_are_repeated_not_called_a_leak(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    from probes.sandbox import SandboxConfig

    config = SandboxConfig.model_validate({"guests": {"kind": "process"}, "seed": 7})
    sb = sandbox_factory(config, tls=True)
    sb.set_faults(errors={"show": {"status": 503, "rate": 0.5}})
    run = vm(sb, "-v", timeout=60)
    assert run.state == "OK", run.out
    assert "status poll(s) failed and were repeated" in run.out
    no_vm_left(sb)


def test_an_undeletable_leftover_is_warned_about_every_run(sb: Sandbox) -> None:
    sb.set_faults(delete_fails=True)  # the sandbox's servers made now can never be deleted
    first = vm(sb, "-v", timeout=15)
    assert first.state == "CRITICAL" and "was NOT deleted: the next run retries" in first.summary
    [left] = [s["id"] for s in sb.live_servers()]
    sb.set_faults()
    for _ in range(2):  # tried again at once (the ledger), and said to stay: never "removed"
        again = vm(sb, "-v", timeout=30)
        assert again.state == "WARNING", again.out
        assert again.phase("sweep").startswith("sweep     warned")
        assert f"removed 0 stale probe VM(s) of this host; 1 still there: {left}: status " \
               "ERROR after delete" in again.phase("sweep")
        assert "leaked=0" in again.perf  # this run's own VM went
    assert [s["id"] for s in sb.live_servers()] == [left]


def test_twins_of_one_name_and_the_age_floor(sb: Sandbox, tmp_path: Path) -> None:
    env_a = {**os.environ, "FEDPROBE_STATE_DIR": str(tmp_path / "a")}
    env_b = {**os.environ, "FEDPROBE_STATE_DIR": str(tmp_path / "b")}
    sb.set_faults(errors={"delete": {"status": 503}})  # an outage of delete, not the server's
    a = vm(sb, "-v", timeout=6, env=env_a)
    assert a.state == "CRITICAL"
    [leaked] = [s["id"] for s in sb.live_servers()]
    sb.set_faults()
    b = vm(sb, "-v", env=env_b)  # the HA twin: same --monitoring-host, another machine
    assert b.state == "OK" and "removed 0 stale" in b.phase("sweep")
    assert [s["id"] for s in sb.live_servers()] == [leaked]
    # a user's VM named like ours and another host's, both older than the floor, stay
    api = Api(sb)
    users = api.create_server("fedprobe-looks-like-ours").json()["server"]["id"]
    other = api.create_server("fedprobe-other-1", metadata={
        "fedprobe.host": "other.example.org", "fedprobe.probe": "vm",
        "fedprobe.run": "x"}).json()["server"]["id"]
    for sid in (users, other, leaked):
        sb.backdate(sid, 4000)
    c = vm(sb, "-v", env={**os.environ, "FEDPROBE_STATE_DIR": str(tmp_path / "c")})
    assert "removed 0 stale" in c.phase("sweep")  # machine a's, old as it is, is not c's
    (tmp_path / "a" / "ledger" / "sandbox.json").unlink()  # a wiped ledger: the floor
    a2 = vm(sb, "-v", env=env_a)
    assert "removed 1 stale" in a2.phase("sweep"), a2.out
    assert sorted(s["id"] for s in sb.live_servers()) == sorted([users, other])


def test_a_server_that_shows_after_the_run_gave_up_is_removed_by_its_guardian(
        sb: Sandbox) -> None:
    sb.set_faults(create_after_504=5)  # after the run's hard deadline (-t 4)
    run = vm(sb, "-v", timeout=4)
    assert run.state == "CRITICAL" and "leaked=1" in run.perf
    assert "create answer lost: a server may appear (run " in run.out
    assert not sb.live_servers()  # nothing yet: the run could not have found it
    [entry] = Ledger(state(), "sandbox").entries()
    assert entry.state == "lost"
    took = wait_for(sb.live_servers, 15, "the put-off create never happened")
    took += wait_for(lambda: not sb.live_servers(), 30, "the late server stayed")
    print(f"late server removed {took:.1f}s after the run ended")
    wait_for(lambda: Ledger(state(), "sandbox").entries() == [], 5, "the ledger kept the run")


def test_a_sigterm_during_start_up_is_an_interrupted_run_not_a_death(sb: Sandbox) -> None:
    proc = start(sb)
    time.sleep(0.2)  # importing (about 0.5 s): before any handler of the vm command exists
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3, (proc.returncode, out)
    assert out.startswith("FEDCLOUD_VM UNKNOWN - interrupted by SIGTERM"), out
    assert sb.request_log() == []  # nothing was sent to the cloud


def test_minus_t_counts_from_the_start_of_the_process(sb: Sandbox) -> None:
    sb.set_faults(latency={"show": 20})  # every status poll hangs: the run uses all of -t
    t0 = time.monotonic()
    proc = start(sb, timeout=6)
    out, _ = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 2 and "leaked=1" in out, out
    assert took < 6.0 + 0.1, took  # start-up included: a scheduler's timeout of -t is met


def test_a_live_run_of_this_machine_is_never_swept(sb: Sandbox) -> None:
    sb.set_faults(latency={"boot": 60})
    first = start(sb, timeout=60)  # alive, in boot, holding its run lock
    wait_for(sb.live_servers, 30, "the first run never created its VM")
    [theirs] = [s["id"] for s in sb.live_servers()]
    sb.backdate(theirs, 4000)  # even past the age floor: a live run's VM stays
    sb.set_faults()
    second = vm(sb, "-v", timeout=20)
    assert second.state == "OK", second.out
    assert "removed 0 stale" in second.phase("sweep")
    assert [s["id"] for s in sb.live_servers()] == [theirs]
    first.send_signal(signal.SIGTERM)
    out, _ = first.communicate(timeout=30)
    assert first.returncode == 3 and "interrupted by SIGTERM" in out
    no_vm_left(sb)


def test_a_hung_list_costs_the_sweep_only_and_no_vm_is_made_without_time(sb: Sandbox) -> None:
    sb.set_faults(latency={"list": 30})
    run = vm(sb, "-v", timeout=8)  # phases 5.5 s: the sweep may take a quarter of them
    assert run.state == "WARNING", run.out
    assert "timed out" in run.phase("sweep")
    assert re.search(r"^gone\s+passed", run.out, re.M), run.out
    sb.set_faults(latency={"images": 3.5})  # discovery eats more than half of the phases' time
    creates = sum(r.operation == "create" for r in sb.request_log())
    late = vm(sb, "-v", timeout=8)
    assert late.state == "CRITICAL"
    assert "not created: " in late.phase("create") and "too little to watch the VM" in \
        late.phase("create")
    assert sum(r.operation == "create" for r in sb.request_log()) == creates
    no_vm_left(sb)
