"""Scheduling: the pure Plan driven by a fake clock and a seeded rng (jitter, no drift, no
overlap, no catch-up bursts, reloads), then the Scheduler's real threads with a fake check."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from exporters.config import CheckConfig, Job
from exporters.scheduler import Plan, Scheduler
from probes.deadline import Deadline, DeadlineExceeded


def job(site: str = "A", check: str = "keystone", interval: float = 60.0,
        timeout: float = 30.0) -> Job:
    return Job(site, check, CheckConfig(interval=interval, timeout=timeout))


def first_dues(seed: int, jobs: list[Job], now: float) -> list[float]:
    plan = Plan(random.Random(seed))
    plan.set_jobs(jobs, now)
    taken = plan.take_due(now + max(j.options.interval for j in jobs))
    assert len(taken) == len(jobs)
    return [due for _, due in sorted(taken, key=lambda t: t[0].site)]


# -- Plan ----------------------------------------------------------------------------------------
def test_first_runs_are_spread_over_the_first_interval() -> None:
    jobs = [job(f"S{i:03}") for i in range(200)]
    dues = first_dues(7, jobs, now=1000.0)
    assert all(1000.0 <= d <= 1060.0 for d in dues)
    assert len(set(dues)) == len(dues)
    quarters = Counter(int((d - 1000.0) // 15) for d in dues)
    assert all(30 <= quarters[q] <= 70 for q in range(4)), quarters  # uniform: ~50 each
    assert first_dues(7, jobs, now=1000.0) == dues  # the seed decides
    assert first_dues(8, jobs, now=1000.0) != dues


def test_nothing_is_due_before_its_first_time() -> None:
    plan = Plan(random.Random(1))
    plan.set_jobs([job(interval=60)], 0.0)
    first = plan.next_due()
    assert first is not None and 0.0 <= first <= 60.0
    assert plan.take_due(first - 0.001) == []
    assert [j.site for j, _ in plan.take_due(first)] == ["A"]


def test_next_due_is_the_previous_due_plus_interval_however_late_it_ran() -> None:
    plan = Plan(random.Random(1))
    a = job(interval=60)
    plan.set_jobs([a], 0.0)
    first = plan.next_due()
    assert first is not None
    dues = []
    for k in range(5):
        ((_, due),) = plan.take_due(first + 60 * k + 7.5)  # each one starts 7.5 s late
        dues.append(due)
        plan.done(a.key)
    assert dues == pytest.approx([first + 60 * k for k in range(5)])
    assert plan.next_due() == pytest.approx(first + 300)


def test_a_busy_job_is_skipped_not_queued_until_done() -> None:
    plan = Plan(random.Random(2))
    vm = job(check="vm", interval=100)
    plan.set_jobs([vm], 0.0)
    d0 = plan.next_due()
    assert d0 is not None
    assert [j for j, _ in plan.take_due(d0)] == [vm]
    assert plan.take_due(d0 + 100) == []          # the previous run is still going
    assert plan.skipped == {"vm": 1, "fast": 0}
    assert plan.take_due(d0 + 150) == []
    plan.done(vm.key)
    assert plan.take_due(d0 + 150) == []          # the skipped occurrence is not made up
    ((_, due),) = plan.take_due(d0 + 200)
    assert due == pytest.approx(d0 + 200) and plan.skipped["vm"] == 1


def test_no_burst_of_catch_up_runs_after_a_stall() -> None:
    plan = Plan(random.Random(3))
    a = job(interval=60)
    plan.set_jobs([a], 0.0)
    d0 = plan.next_due()
    assert d0 is not None
    plan.take_due(d0)
    plan.done(a.key)
    now = d0 + 10 * 60 + 5                        # the process was stopped for ten minutes
    assert len(plan.take_due(now)) == 1
    plan.done(a.key)
    assert plan.take_due(now) == []
    assert plan.next_due() == pytest.approx(d0 + 11 * 60)  # back on its own grid
    assert plan.skipped["fast"] == 0              # none was skipped for being busy


def test_reload_keeps_rhythm_rejitters_retimed_and_drops_removed() -> None:
    a, b, c = job("A"), job("B"), job("C")
    plan = Plan(random.Random(4))
    plan.set_jobs([a, b, c], 0.0)
    first = {j.site: due for j, due in plan.take_due(60.0)}
    for j in (a, b, c):
        plan.done(j.key)
    d = job("D")
    plan.set_jobs([a, job("B", interval=120), d], 70.0)
    assert len(plan) == 3
    nxt = {j.site: (j, due) for j, due in plan.take_due(190.0)}
    assert set(nxt) == {"A", "B", "D"}
    assert nxt["A"][1] == pytest.approx(first["A"] + 60)       # unchanged: same rhythm
    assert nxt["B"][0].options.interval == 120
    assert 70.0 <= nxt["B"][1] <= 190.0                        # re-timed: a new first run
    assert nxt["B"][1] != pytest.approx(first["B"] + 60)
    assert 70.0 <= nxt["D"][1] <= 130.0                        # new: within its interval
    for j in (a, b, d):
        plan.done(j.key)
    assert all(j.site != "C" for j, _ in plan.take_due(10_000.0))


def test_a_running_job_stays_busy_across_a_reload() -> None:
    a = job(interval=60)
    plan = Plan(random.Random(5))
    plan.set_jobs([a], 0.0)
    (_, due), = plan.take_due(60.0)
    plan.set_jobs([a], 61.0)
    assert plan.take_due(due + 60) == []
    assert plan.skipped["fast"] == 1


def test_removed_and_readded_while_running_does_not_overlap() -> None:
    """A reload drops a check while it runs, the next reload brings it back: the new entry
    must not start while the old run is still going."""
    a, b = job("A", interval=60), job("B", interval=60)
    plan = Plan(random.Random(6))
    plan.set_jobs([a, b], 0.0)
    assert {j.site for j, _ in plan.take_due(60.0)} == {"A", "B"}
    plan.done(b.key)
    plan.set_jobs([b], 61.0)      # A removed while its run goes on
    plan.set_jobs([a, b], 62.0)   # and back again
    assert all(j.site != "A" for j, _ in plan.take_due(200.0))
    plan.done(a.key)              # the old run ends: now A may run
    plan.done(b.key)
    assert any(j.site == "A" for j, _ in plan.take_due(300.0))


# -- Scheduler (real threads) --------------------------------------------------------------------
class Recorder:
    """A fake execute: sleeps, and records how many runs of each pool and key overlap."""

    def __init__(self, seconds: Callable[[Job], float]) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.active: Counter[tuple[str, str]] = Counter()
        self.overlaps: list[tuple[str, str]] = []
        self.runs: Counter[tuple[str, str]] = Counter()

    def __call__(self, job: Job, soft: Deadline, hard: Deadline) -> None:
        with self.lock:
            self.running[job.pool] += 1
            self.most[job.pool] = max(self.most[job.pool], self.running[job.pool])
            if self.active[job.key]:
                self.overlaps.append(job.key)
            self.active[job.key] += 1
            self.runs[job.key] += 1
        time.sleep(self.seconds(job))
        with self.lock:
            self.running[job.pool] -= 1
            self.active[job.key] -= 1


def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.005)


def test_pools_are_bounded_and_a_check_never_overlaps_itself() -> None:
    jobs = [job(f"V{i}", "vm", interval=0.1) for i in range(6)]
    jobs += [job(f"F{i}", "api", interval=0.05) for i in range(12)]
    execute = Recorder(lambda j: 0.12 if j.check == "vm" else 0.08)
    sched = Scheduler({"vm": 2, "fast": 3}, execute, rng=random.Random(1))
    sched.start(jobs)
    time.sleep(1.0)
    assert sched.stop(grace=1.0) == []
    assert execute.most == {"vm": 2, "fast": 3}   # reached, never exceeded
    assert execute.overlaps == []
    assert set(execute.runs) == {j.key for j in jobs}
    assert sched.skipped("fast") > 0              # due while queued or running: skipped
    assert sched.running == {"vm": 0, "fast": 0}
    buckets, _ = sched.lag_snapshot("fast")
    assert buckets[-1][1] == sum(n for k, n in execute.runs.items() if k[1] == "api")


def test_replace_stops_removed_checks() -> None:
    a, b = job("A", interval=0.05), job("B", interval=0.05)
    execute = Recorder(lambda j: 0.01)
    sched = Scheduler({"vm": 1, "fast": 2}, execute, rng=random.Random(2))
    sched.start([a, b])
    wait_for(lambda: execute.runs[b.key] >= 2)
    sched.replace([a])
    wait_for(lambda: execute.active[b.key] == 0)
    time.sleep(0.05)  # a run of B already queued may still start
    before = execute.runs[b.key]
    time.sleep(0.3)
    sched.stop(grace=1.0)
    assert execute.runs[b.key] == before and execute.runs[a.key] >= 5


def test_stop_cancels_running_drops_queued_and_returns_stragglers() -> None:
    seen: list[tuple[bool, str, bool, float]] = []  # soft cancelled, why; hard cancelled, left
    started = {"vm": threading.Event(), "fast": threading.Event()}
    runs: list[str] = []

    def execute(j: Job, soft: Deadline, hard: Deadline) -> None:
        runs.append(j.site)
        started[j.pool].set()
        if j.pool == "fast":  # a check that ignores the cancel
            time.sleep(1.0)
            return
        try:
            soft.sleep(10.0)
        except DeadlineExceeded:
            pass
        seen.append((soft.cancelled, soft.reason, hard.cancelled, hard.left()))

    vms = [job(f"V{i}", "vm", interval=0.05, timeout=30) for i in range(3)]
    stuck = job("F", "api", interval=0.05)
    sched = Scheduler({"vm": 1, "fast": 1}, execute, rng=random.Random(3))
    sched.start([*vms, stuck])
    assert started["vm"].wait(2.0) and started["fast"].wait(2.0)
    wait_for(lambda: sched.queue_depth("vm") == 2)  # two VM runs wait for the one worker
    t0 = time.monotonic()
    left = sched.stop(grace=0.3)
    assert 0.25 <= time.monotonic() - t0 < 0.9
    assert left == [stuck]
    ((cancelled, why, hard_cancelled, hard_left),) = seen
    assert cancelled and why == "exporter shutdown"
    assert not hard_cancelled and hard_left > 20  # cleanup keeps its own time
    assert sched.queue_depth("vm") == 0
    time.sleep(0.9)  # the straggler ends; nothing else starts
    assert sorted(site[0] for site in runs) == ["F", "V"]


def test_resize_applies_at_once_and_never_cuts_a_run_short() -> None:
    jobs = [job(f"F{i}", "api", interval=0.05) for i in range(12)]
    execute = Recorder(lambda j: 0.08)
    sched = Scheduler({"vm": 1, "fast": 2}, execute, rng=random.Random(4))
    sched.start(jobs)
    wait_for(lambda: execute.most["fast"] == 2)
    sched.resize({"vm": 1, "fast": 5})
    wait_for(lambda: execute.most["fast"] == 5)      # more workers now, not at a restart
    sched.resize({"vm": 1, "fast": 1})
    time.sleep(0.3)                                  # the extra ones leave after their run
    execute.most.clear()
    time.sleep(0.5)
    assert execute.most["fast"] == 1 and execute.overlaps == []
    assert sched.queue_depth("fast") <= len(jobs)    # shrink markers are not queued checks
    assert sched.stop(grace=1.0) == []
    assert sched.workers == {"vm": 1, "fast": 1}


def test_what_a_scrape_reads_never_waits_for_the_scheduler_lock() -> None:
    """A scrape reading the queue depth under the dispatcher's lock waited for it: /metrics
    p99 went from 47 to 72-103 ms at 1000 sites."""
    sched = Scheduler({"vm": 1, "fast": 1}, Recorder(lambda j: 0.0))
    got: list[int] = []
    with sched._cond:  # the dispatcher (or a reload) holding it
        reader = threading.Thread(target=lambda: got.append(sched.queue_depth("fast")))
        reader.start()
        reader.join(1.0)
        assert got == [0], "queue_depth waited for the scheduler's lock"
