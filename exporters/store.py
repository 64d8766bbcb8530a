"""What the exporter knows: per (site, check) the last run, the counters since start, the VM
phase-duration histograms and a short history of runs (their debug logs) for the status page.
Thread-safe; workers record, the renderer and the web pages read."""

from __future__ import annotations

import bisect
import dataclasses
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from exporters.model import CheckRun, KeptRun

# Phase durations of VM runs: 50 ms (a quick API call) .. 10 min (the default VM timeout).
PHASE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class Histogram:
    """Bucket counts, sum and count of observations (cumulative when read)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf only)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        """[(le, cumulative count)], ending with +Inf, as the exposition wants them."""
        out, total = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += n
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(total)))
        return out


@dataclass
class Series:
    """Everything about one (site, check)."""

    site: str
    check: str
    driver: str = "openstack"
    interval: float | None = None          # None: not scheduled (one-shot, or removed)
    latest: CheckRun | None = None
    last_success: float | None = None
    runs: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    consecutive_failures: int = 0
    leaked_total: int = 0
    present: int | None = None             # vm: as of the last run that could look
    phase_hist: dict[str, Histogram] = field(default_factory=dict)
    history: deque[KeptRun] = field(default_factory=deque)  # the debug logs, compressed
    version: int = 0                       # the store's version when this series last changed


class Store:
    """The latest results; ``version`` changes whenever something a metric shows changed."""

    def __init__(self, history: int = 10) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], Series] = {}
        self._history = history
        self.version = 0
        self.changed = threading.Event()

    def configure(self, schedule: Iterable[tuple[str, str, str, float, Iterable[str]]],
                  history: int | None = None) -> None:
        """The (site, check, driver, interval, failure reasons) now scheduled; series no longer
        scheduled are forgotten (their metrics disappear), new ones appear with their interval
        and every failure reason counted at 0 (so that ``increase()`` sees the first one)."""
        with self._lock:
            if history is not None:
                self._history = history
            wanted = {(site, check): (driver, interval, reasons)
                      for site, check, driver, interval, reasons in schedule}
            for key in list(self._series):
                if key not in wanted:
                    del self._series[key]
            for key, (driver, interval, reasons) in wanted.items():
                s = self._series.setdefault(key, Series(*key, driver=driver))
                s.interval = interval
                s.history = deque(s.history, maxlen=self._history)
                for reason in reasons:
                    s.failures.setdefault(reason, 0)
            self._bump()
            for s in self._series.values():
                s.version = self.version

    def record(self, run: CheckRun, only_scheduled: bool = False) -> None:
        """Keep one finished run (with `only_scheduled`, not if a reload removed its check while
        it ran)."""
        with self._lock:
            key = (run.site, run.check)
            s = self._series.get(key)
            if s is None and only_scheduled:
                return
            if s is None:  # a one-shot run
                s = Series(run.site, run.check, history=deque(maxlen=self._history))
                self._series[key] = s
            s.driver = run.driver
            s.latest = dataclasses.replace(run, log="")  # its log is kept in the history
            s.runs += 1
            if run.success:
                s.last_success = run.finished
                s.consecutive_failures = 0
            else:
                s.failures[run.reason or "internal"] += 1
                s.consecutive_failures += 1
            s.leaked_total += run.leaked
            if run.present is not None:
                s.present = run.present
            if run.check == "vm":
                for p in run.phases:
                    if p.seconds is not None:
                        s.phase_hist.setdefault(p.name, Histogram(PHASE_BUCKETS)).observe(
                            p.seconds)
            s.history.append(KeptRun.of(run))
            self._bump()
            s.version = self.version

    def _bump(self) -> None:
        self.version += 1
        self.changed.set()

    @contextmanager
    def reading(self) -> Iterator[list[Series]]:
        """Every series, sorted, consistent while the block runs (recording waits)."""
        with self._lock:
            yield [self._series[k] for k in sorted(self._series)]

    def get(self, site: str, check: str) -> tuple[CheckRun | None, list[KeptRun]]:
        """The last run (without its log) and the kept history, newest first, with logs."""
        with self._lock:
            s = self._series.get((site, check))
            if s is None:
                return None, []
            return s.latest, list(reversed(s.history))

    def latest(self, site: str, check: str) -> CheckRun | None:
        """The last run of one (site, check) (without its log: the history has it)."""
        with self._lock:
            s = self._series.get((site, check))
            return None if s is None else s.latest
