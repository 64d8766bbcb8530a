"""Running the checks on their own schedule: each (site, check) every `interval` seconds, its
first run at a random point of its first interval (so 1000 sites do not all start at once), in
two bounded worker pools (VM probes, fast checks), never two runs of the same (site, check) at
once — a run still going when the next is due makes that occurrence skipped, not queued.

``Plan`` is the pure part (times in, decisions out; tests drive it with a fake clock);
``Scheduler`` runs it with a dispatcher thread and the worker threads."""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from exporters.config import Job
from exporters.runchecks import deadlines
from exporters.store import Histogram
from probes.deadline import Deadline

log = logging.getLogger(__name__)

POOLS = ("vm", "fast")
# How late a run started after it was due: 10 ms .. 30 min.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


@dataclass
class _Entry:
    job: Job
    due: float


class Plan:
    """Due times of every job; at most one occurrence of a job queued or running."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._entries: dict[tuple[str, str], _Entry] = {}
        # Queued or running; kept apart from the entries so that a job a reload removes and a
        # later reload adds back does not start while its old run is still going.
        self._busy: set[tuple[str, str]] = set()
        self._heap: list[tuple[float, int, tuple[str, str]]] = []
        self._seq = itertools.count()
        self.skipped: dict[str, int] = dict.fromkeys(POOLS, 0)

    def set_jobs(self, jobs: Iterable[Job], now: float) -> None:
        """Schedule these jobs: a job already known keeps its rhythm when its interval is the
        same; a new (or re-timed) one starts at a random point of its first interval."""
        new: dict[tuple[str, str], _Entry] = {}
        for job in jobs:
            old = self._entries.get(job.key)
            if old is not None and old.job.options.interval == job.options.interval:
                new[job.key] = _Entry(job, old.due)
            else:
                new[job.key] = _Entry(job, now + self._rng.uniform(0, job.options.interval))
        self._entries = new
        self._heap = [(e.due, next(self._seq), k) for k, e in new.items()]
        heapq.heapify(self._heap)

    def take_due(self, now: float) -> list[tuple[Job, float]]:
        """The jobs due by `now` that are not busy, marked busy, with the time each was due.
        Every due entry moves on to its next occurrence after `now`."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            due, _, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is None or entry.due != due:
                continue  # removed or re-timed since
            interval = entry.job.options.interval
            if key in self._busy:
                self.skipped[entry.job.pool] += 1
                log.info("%s check of %s is due but its previous run is still going; "
                         "skipping this occurrence", entry.job.check, entry.job.site)
            else:
                self._busy.add(key)
                out.append((entry.job, due))
            missed = max(0, int((now - due) // interval))
            entry.due = due + (missed + 1) * interval
            heapq.heappush(self._heap, (entry.due, next(self._seq), key))
        return out

    def done(self, key: tuple[str, str]) -> None:
        """A run of `key` ended: its next occurrence may run."""
        self._busy.discard(key)

    def next_due(self) -> float | None:
        """When the earliest job is due."""
        while self._heap:
            due, _, key = self._heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry.due == due:
                return due
            heapq.heappop(self._heap)
        return None

    def __len__(self) -> int:
        return len(self._entries)


Execute = Callable[[Job, Deadline, Deadline], None]


class Scheduler:
    """The dispatcher thread and one bounded pool of worker threads per kind of check."""

    def __init__(self, workers: dict[str, int], execute: Execute,
                 clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self._execute = execute
        self._clock = clock
        self._plan = Plan(rng)
        self._cond = threading.Condition()
        self._queues: dict[str, queue.Queue[tuple[Job, float] | None]] = {
            p: queue.Queue() for p in POOLS}
        self.workers = dict(workers)
        self.running: dict[str, int] = dict.fromkeys(POOLS, 0)
        self.lag = {p: Histogram(LAG_BUCKETS) for p in POOLS}
        self._active: dict[Deadline, Job] = {}
        self._threads: list[threading.Thread] = []
        self._made = dict.fromkeys(POOLS, 0)
        self._leaving = dict.fromkeys(POOLS, 0)  # shrink markers still in a queue
        self._started = False
        self._stopping = False

    # -- control ---------------------------------------------------------------------------------
    def start(self, jobs: Iterable[Job]) -> None:
        """Schedule the jobs and start the threads."""
        with self._cond:
            self._plan.set_jobs(jobs, self._clock())
        self._threads.append(threading.Thread(target=self._dispatch, name="fedprobe-dispatch",
                                              daemon=True))
        for pool in POOLS:
            for _ in range(self.workers[pool]):
                self._threads.append(self._worker(pool))
        self._started = True
        for t in self._threads:
            t.start()

    def _worker(self, pool: str) -> threading.Thread:
        self._made[pool] += 1
        return threading.Thread(target=self._work, args=(pool,),
                                name=f"fedprobe-{pool}-{self._made[pool]}", daemon=True)

    def resize(self, workers: dict[str, int]) -> None:
        """New pool sizes, at once: more workers start now; fewer — the extra ones leave as
        they finish their current run (a running check is never cut short)."""
        with self._cond:
            if self._stopping:
                return
            for pool in POOLS:
                change = workers[pool] - self.workers[pool]
                self.workers[pool] = workers[pool]
                if not self._started:
                    continue
                for _ in range(change):
                    t = self._worker(pool)
                    self._threads.append(t)
                    t.start()
                for _ in range(-change):
                    self._leaving[pool] += 1
                    self._queues[pool].put(None)  # after what is queued: one worker leaves

    def replace(self, jobs: Iterable[Job]) -> None:
        """A reloaded config's jobs (runs in progress finish; removed jobs do not run again)."""
        with self._cond:
            self._plan.set_jobs(jobs, self._clock())
            self._cond.notify_all()

    def stop(self, grace: float) -> list[Job]:
        """Stop dispatching, drop queued runs, interrupt running ones (their cleanup still
        runs: a VM probe deletes its VM) and wait up to `grace` seconds for them. Returns the
        runs that had not ended by then."""
        with self._cond:
            self._stopping = True
            for q in self._queues.values():
                while True:
                    try:
                        item = q.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        self._plan.done(item[0].key)
            for soft in self._active:
                soft.cancel("exporter shutdown")
            self._cond.notify_all()
        for pool, q in self._queues.items():
            for _ in range(self.workers[pool]):
                q.put(None)
        end = time.monotonic() + grace
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        with self._cond:
            return list(self._active.values())

    # -- what the exporter's own metrics show -----------------------------------------------------
    def queue_depth(self, pool: str) -> int:
        """Runs due and waiting for a worker of the pool."""
        # no lock: a scrape must never wait for the dispatcher (the two ints are read apart)
        return max(0, self._queues[pool].qsize() - self._leaving[pool])

    def skipped(self, pool: str) -> int:
        """Occurrences skipped because the previous run was still going."""
        with self._cond:
            return self._plan.skipped[pool]

    def lag_snapshot(self, pool: str) -> tuple[list[tuple[str, float]], float]:
        """The pool's lag histogram (cumulative buckets, sum)."""
        with self._cond:
            h = self.lag[pool]
            return h.cumulative(), h.sum

    # -- threads ---------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        with self._cond:
            while not self._stopping:
                now = self._clock()
                for job, due in self._plan.take_due(now):
                    self._queues[job.pool].put((job, due))
                nxt = self._plan.next_due()
                wait = 1.0 if nxt is None else min(1.0, max(0.0, nxt - self._clock()))
                self._cond.wait(wait)

    def _work(self, pool: str) -> None:
        q = self._queues[pool]
        while True:
            item = q.get()
            if item is None:
                with self._cond:
                    self._leaving[pool] = max(0, self._leaving[pool] - 1)
                return
            job, due = item
            soft, hard = deadlines(job.options.timeout, cleanup=pool == "vm")
            with self._cond:
                if self._stopping:
                    self._plan.done(job.key)
                    continue
                self.lag[pool].observe(max(0.0, self._clock() - due))
                self.running[pool] += 1
                self._active[soft] = job
            try:
                self._execute(job, soft, hard)
            except Exception:  # execute records its own failures; this is a last guard
                log.exception("%s check of %s: unexpected error", job.check, job.site)
            finally:
                with self._cond:
                    self.running[pool] -= 1
                    self._active.pop(soft, None)
                    self._plan.done(job.key)
                    self._cond.notify_all()
