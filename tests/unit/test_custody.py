"""No leak, whatever happens (docs/cleanup.md), against the in-memory fake cloud: lost create
answers, the ledger and the next run, runs that die (the guardian's own code in a thread), live
runs of other roles, HA twins, signals at every phase, and the verdict each case earns."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from probes.checks.vm import render
from probes.deadline import Deadline
from probes.runner.ledger import LEAKED, LOST, Ledger, RunLock
from probes.runner.lifecycle import LifecycleRunner
from probes.runner.result import LifecycleResult, Outcome
from probes.runner.sweep import KEY_HOST, KEY_MACHINE, KEY_PROBE, KEY_RUN
from tests.fakecloud import HOST, MACHINE, FakeCloud, custody, site

MINE = {KEY_HOST: HOST, KEY_MACHINE: MACHINE, KEY_PROBE: "vm"}


def runner(cloud: FakeCloud, port: int, state: Path, soft: float = 5.0, hard: float = 8.0,
           **kw: Any) -> LifecycleRunner:
    return LifecycleRunner(site(port=port), custody(cloud, state, **kw), Deadline(soft),
                           Deadline(hard), cloud.driver, cloud.channel)


def run(cloud: FakeCloud, port: int, state: Path, **kw: Any) -> LifecycleResult:
    return runner(cloud, port, state, **kw).run()


def verdict(result: LifecycleResult) -> tuple[str, int]:
    return render(result, site(), 0, None, None, {})


def ledger(state: Path) -> Ledger:
    return Ledger(state, "fake")


# -- lost create answers ---------------------------------------------------------------------------
def test_a_lost_answer_whose_server_shows_late_is_found_and_deleted(
        cloud: FakeCloud, port: int, tmp_path: Path) -> None:
    cloud.faults.create_answer_lost = True
    cloud.faults.appears_after = 1.0  # behind the answer, in the cloud's own time
    result = run(cloud, port, tmp_path, soft=2.0, hard=6.0)
    assert result.phase("create").outcome == Outcome.FAILED
    assert cloud.calls.count("list") > 2  # looked again, with back-off, until it showed
    assert result.phase("gone").outcome == Outcome.PASSED and cloud.live() == []
    assert not result.maybe_leaked and ledger(tmp_path).entries() == []


def test_a_lost_answer_that_never_shows_is_a_possible_leak_the_next_run_removes(
        cloud: FakeCloud, port: int, tmp_path: Path) -> None:
    cloud.faults.create_answer_lost = True
    cloud.faults.appears_after = 3600.0  # not within this run
    # no guardian (it could not start): the ledger alone must do it
    first = run(cloud, port, tmp_path, soft=1.0, hard=2.0, guardians=False)
    assert first.phase("delete").outcome == Outcome.FAILED
    assert first.uncertain == (f"create answer lost: a server may appear (run "
                               f"{first.run_id}; the next run removes it)")
    text, code = verdict(first)
    assert code == 2 and first.uncertain in text and "leaked=1" in text
    [entry] = ledger(tmp_path).entries()
    assert (entry.run, entry.state, entry.server) == (first.run_id, LOST, None)
    # it shows up later: the next run removes it at once, young as it is
    cloud.faults = type(cloud.faults)()
    [sid] = cloud.live()
    second = run(cloud, port, tmp_path)
    assert second.phase("sweep").data["removed"] == [sid]
    assert cloud.live() == [] and ledger(tmp_path).entries() == []


def test_a_refused_create_looks_once_and_says_nothing_was_made(
        cloud: FakeCloud, port: int, tmp_path: Path) -> None:
    cloud.faults.create_error = "HTTP 403: Quota exceeded for instances"
    result = run(cloud, port, tmp_path)
    assert result.phase("delete").detail == "no server was created"
    assert cloud.calls.count("list") == 2  # the sweep's and one look by run id
    assert not result.maybe_leaked and ledger(tmp_path).entries() == []


# -- the ledger and the next run -------------------------------------------------------------------
def test_a_vm_that_could_not_be_deleted_is_removed_by_the_next_run_at_once(
        cloud: FakeCloud, port: int, tmp_path: Path) -> None:
    cloud.faults.delete_error = "HTTP 409: Cannot delete a locked server"
    first = run(cloud, port, tmp_path, hard=6.0)
    assert first.leaked_server_id and cloud.live() == [first.leaked_server_id]
    text, code = verdict(first)
    assert code == 2 and f"VM {first.leaked_server_id} was NOT deleted: the next run " \
                         "retries; if it stays, delete it by hand" in text
    [entry] = ledger(tmp_path).entries()
    assert (entry.state, entry.server) == (LEAKED, first.leaked_server_id)
    cloud.faults.delete_error = ""
    second = run(cloud, port, tmp_path)  # seconds later: no age floor for the ledger's runs
    assert second.phase("sweep").data["removed"] == [first.leaked_server_id]
    assert second.present == 0 and cloud.live() == [] and ledger(tmp_path).entries() == []


def test_a_live_run_of_another_role_is_never_swept(cloud: FakeCloud, port: int,
                                                   tmp_path: Path) -> None:
    other = runner(cloud, port, tmp_path, role="exporter")
    lock = RunLock(tmp_path, other.run_id)  # the exporter's run is alive and holds its lock
    sid = cloud.add_server({**MINE, KEY_RUN: other.run_id}, age=10)
    from probes.runner.ledger import Entry
    ledger(tmp_path).put(Entry(other.run_id, "fake", "https://k.example/v3#p-fake", "exporter",
                               1, time.time(), time.time() + 600, "created", sid))
    result = run(cloud, port, tmp_path)
    assert result.phase("sweep").data["live"] == 1 and sid in cloud.live()
    lock.release()  # ... until it is over: then its VM is fair game at once
    again = run(cloud, port, tmp_path)
    assert again.phase("sweep").data["removed"] == [sid] and cloud.live() == []


def test_another_machine_of_the_same_name_keeps_its_vms(cloud: FakeCloud, port: int,
                                                        tmp_path: Path) -> None:
    a = runner(cloud, port, tmp_path / "a", machine="aaaaaaaaaaaaaaaa")
    cloud.faults.delete_error = "HTTP 409: locked"
    leaked = a.run().leaked_server_id
    cloud.faults.delete_error = ""
    b = run(cloud, port, tmp_path / "b", machine="bbbbbbbbbbbbbbbb")
    assert b.phase("sweep").data["removed"] == [] and cloud.live() == [leaked]


def test_a_damaged_ledger_is_kept_aside_and_monitoring_goes_on(
        cloud: FakeCloud, port: int, tmp_path: Path) -> None:
    run(cloud, port, tmp_path)
    ledger(tmp_path).path.write_text("{not json")
    result = run(cloud, port, tmp_path)
    assert result.phase("gone").outcome == Outcome.PASSED
    assert list((tmp_path / "ledger").glob("fake.json.damaged-*"))


# -- runs that die ---------------------------------------------------------------------------------
def _die_at(cloud: FakeCloud, call: str, after: int = 0) -> threading.Event:
    """The run freezes (as good as killed) at its after-th `call`; returns the 'reached' event.
    Nothing of the run runs afterwards: no cleanup, no ledger update, no word to the guardian."""
    reached = threading.Event()
    count = {"n": 0}

    def freeze() -> None:
        count["n"] += 1
        if count["n"] > after:
            reached.set()
            threading.Event().wait()  # forever (the thread is a daemon)

    cloud.faults.on_call[call] = freeze
    return reached


def _start(cloud: FakeCloud, port: int, state: Path, **kw: Any) -> None:
    r = runner(cloud, port, state, **kw)
    threading.Thread(target=r.run, daemon=True).start()


@pytest.mark.parametrize("cloud,call,after", [
    (kind, call, 0) for kind in ("openstack-like", "console-less") for call in ("status", "create")
] + [("openstack-like", "console", 0)], indirect=["cloud"])
def test_the_guardian_deletes_the_vm_of_a_run_that_died(cloud: FakeCloud, port: int,
                                                        tmp_path: Path, call: str,
                                                        after: int) -> None:
    if call == "create":  # killed while POST /servers was on its way, after the cloud made it
        cloud.faults.create_answer_lost = True
        reached = _die_at(cloud, "list", after=1)  # the sweep's list, then the run's own look
    else:
        reached = _die_at(cloud, call, after)
    _start(cloud, port, tmp_path)
    assert reached.wait(5)
    guardian = cloud.guardians[-1]
    assert cloud.live() != [] and not guardian.acted.is_set()
    cloud.faults.on_call.clear()
    t0 = time.monotonic()
    guardian.die()  # the run's end of the pipe closes: its process is gone
    assert guardian.acted.wait(10)
    assert cloud.live() == [] and time.monotonic() - t0 < 3.0
    assert ledger(tmp_path).entries() == [] and list((tmp_path / "runs").iterdir()) == []


def test_a_guardian_told_done_does_nothing(cloud: FakeCloud, port: int, tmp_path: Path) -> None:
    result = run(cloud, port, tmp_path)
    guardian = cloud.guardians[-1]
    assert guardian.done.wait(5) and not guardian.acted.is_set()
    assert result.phase("gone").outcome == Outcome.PASSED
    assert list((tmp_path / "runs").iterdir()) == []  # nothing of the run is left
    refused = site(port=port, auth={"type": "password", "auth_url": "https://k.example/v3",
                                    "username": "u", "password": "pw", "project_name": "p"})
    cloud.faults.raise_in["connect"] = RuntimeError("no")
    LifecycleRunner(refused, custody(cloud, tmp_path), Deadline(1), Deadline(2),
                    cloud.driver).run()
    assert list((tmp_path / "runs").iterdir()) == []  # a run that made nothing leaves nothing


def test_a_guardian_goes_on_looking_for_a_lost_answer(cloud: FakeCloud, port: int,
                                                      tmp_path: Path) -> None:
    cloud.faults.create_answer_lost = True
    cloud.faults.appears_after = 2.5  # after the run's hard deadline, before the guardian's
    result = run(cloud, port, tmp_path, soft=1.0, hard=1.5)
    assert result.uncertain and ledger(tmp_path).entries()[0].state == LOST
    guardian = cloud.guardians[-1]
    assert guardian.acted.wait(10)
    assert cloud.live() == [] and ledger(tmp_path).entries() == []


# -- signals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cloud,call,interrupted_phase", [
    # the signal lands during auth: nothing after it is sent
    *((kind, call, phase) for kind in ("openstack-like", "console-less")
      for call, phase in (("discover", None), ("status", "boot"))),
    ("openstack-like", "console", "context"),
], indirect=["cloud"])
def test_after_a_signal_only_cleanup_talks_to_the_cloud(
        cloud: FakeCloud, port: int, tmp_path: Path, call: str,
        interrupted_phase: str | None) -> None:
    r = runner(cloud, port, tmp_path)
    cloud.faults.stuck_build = call == "status"
    if call == "discover":
        cloud.faults.on_call["connect"] = lambda: r.deadline.cancel("SIGTERM")
    else:
        cloud.faults.on_call[call] = lambda: r.deadline.cancel("SIGTERM")
    result = r.run()
    assert result.interrupted == "SIGTERM"
    if interrupted_phase is None:
        assert cloud.calls == ["connect"]  # no discover, no sweep, no POST /servers
        assert result.phase("discover").detail == "not run: interrupted by SIGTERM"
    else:
        assert result.phase(interrupted_phase).outcome == Outcome.UNAVAILABLE
        assert result.phase("gone").outcome == Outcome.PASSED and cloud.live() == []
        after = cloud.calls[cloud.calls.index(call) + 1:]
        assert set(after) <= {"delete", "status"}  # cleanup only
    text, code = verdict(result)
    assert code == 3 and text.startswith("FEDCLOUD_VM UNKNOWN - interrupted by SIGTERM")


@pytest.mark.parametrize("call", ["delete", "status_after_delete"])
def test_a_signal_during_cleanup_still_says_the_run_was_interrupted(
        cloud: FakeCloud, port: int, tmp_path: Path, call: str) -> None:
    r = runner(cloud, port, tmp_path)
    cloud.faults.gone_polls = 3
    if call == "delete":
        cloud.faults.on_call["delete"] = lambda: r.deadline.cancel("SIGTERM")
    else:
        cloud.faults.on_call["delete"] = lambda: cloud.faults.on_call.update(
            status=lambda: r.deadline.cancel("SIGTERM"))
    result = r.run()
    assert result.phase("gone").outcome == Outcome.PASSED and cloud.live() == []
    text, code = verdict(result)
    assert code == 3
    assert text.startswith("FEDCLOUD_VM UNKNOWN - interrupted by SIGTERM; every check had "
                           "run, but the run was stopped")


def test_a_signal_just_before_the_create_sends_nothing_and_looks_once(
        cloud: FakeCloud, port: int, tmp_path: Path) -> None:
    r = runner(cloud, port, tmp_path, hard=20.0)
    cloud.faults.on_call["create"] = lambda: r.deadline.cancel("SIGTERM")
    t0 = time.monotonic()
    result = r.run()
    assert cloud.live() == [] and time.monotonic() - t0 < 2.0  # no search for a lost answer
    assert result.phase("create").outcome == Outcome.UNAVAILABLE
    assert result.phase("delete").detail == "no server was created"
    assert not result.maybe_leaked and ledger(tmp_path).entries() == []


def test_the_exporters_ledger_cleanup_touches_only_ended_ledger_runs(
        cloud: FakeCloud, port: int, tmp_path: Path) -> None:
    from probes.runner.cleanup import clean_ledger

    keeper = custody(cloud, tmp_path)
    assert clean_ledger(site(), keeper, Deadline(5), cloud.driver) is None
    assert "connect" not in cloud.calls  # an empty ledger costs no login
    cloud.faults.delete_error = "HTTP 409: locked"
    leaked = run(cloud, port, tmp_path, hard=6.0).leaked_server_id
    cloud.faults.delete_error = ""
    old_untracked = cloud.add_server({**MINE, KEY_RUN: "r-old"}, age=7200)
    result = clean_ledger(site(), keeper, Deadline(5), cloud.driver)
    assert result is not None and result.removed == (leaked,)
    assert cloud.live() == [old_untracked]  # age-based sweeping is the runs' own business
    assert ledger(tmp_path).entries() == []
