"""When to look again: the polls that wait for a transition (BUILD to ACTIVE, the guest's
report, a deleted server's 404) paced around when the site's recent runs saw it, so that few
requests see it soon after it happens.

Without an expectation the first look is at once, the next 0.1 s later, the gaps doubling up to
15 s. With one, the first look is at 95% of it, two more 5% of it apart (at least 0.02 s), then
the gaps double again up to 15 s: a site that got slower costs a few more looks, one that got
faster waits for the first look (and the estimate comes down: Watch.estimate). The expectation
is the median of the site's last five runs, kept beside the ledger in the state directory (this
machine's plugin runs and its exporter alike). A boot's reported duration comes
from the cloud's own timestamps where the driver has them (lifecycle.py), so backing off loses
no precision there."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

from probes.deadline import Deadline

FIRST = 0.1    # the first gap without an expectation
SMALLEST = 0.02  # the smallest gap with one (a request to a cloud on loopback takes ~5 ms)
CAP = 15.0     # the longest gap between two looks
KEEP = 5       # runs remembered per phase
PHASES = ("boot", "context", "gone")


def _aimed(expect: float | None) -> TypeGuard[float]:
    """Whether the looks aim at the expectation (too small a one: as without one)."""
    return expect is not None and expect > SMALLEST


def gaps(expect: float | None, cap: float = CAP) -> Iterator[float]:
    """The sleeps before each look (the first look comes after the first gap); no gap past
    the expectation is longer than ``cap``."""
    gap = FIRST
    if _aimed(expect):
        yield 0.95 * expect
        gap = max(SMALLEST, 0.05 * expect)
        yield gap
    while True:
        yield gap
        gap = min(cap, gap * 2)


class Watch:
    """The looks for one transition (from now), and what they saw: the estimate of when it
    came is the middle between the last look that missed it and the one that saw it — or,
    when the first look saw it already, a little before (so that an expectation too late
    comes down again)."""

    def __init__(self, expect: float | None) -> None:
        self.expect = expect
        self.start = time.monotonic()
        self.missed: float | None = None  # seconds from the start: the last look that missed
        self.seen: float | None = None    # ... and the one that saw it
        self._asked = self.start

    def looks(self, deadline: Deadline, cap: float = CAP) -> Iterator[int]:
        """Attempt numbers 0, 1, ... with the gaps slept between them, the first look at
        once when nothing is expected (the deadline's sleep raises DeadlineExceeded when time
        is up)."""
        attempt = 0
        pace = gaps(self.expect, cap)
        if _aimed(self.expect):  # else the first look is at once
            deadline.sleep(next(pace))
        while True:
            self._asked = time.monotonic()
            yield attempt
            attempt += 1
            deadline.sleep(next(pace))

    def miss(self) -> None:
        """The last look did not see it."""
        self.missed = self._asked - self.start

    def hit(self) -> float:
        """The last look saw it: seconds from the start until it was seen."""
        self.seen = time.monotonic() - self.start
        return self.seen

    def precise(self) -> bool:
        """Whether a look missed it shortly before one saw it (within a tenth of the wait,
        0.1 s at least): the estimate is then good to a few percent."""
        if self.seen is None or self.missed is None:
            return False
        return self.seen - self.missed <= max(0.1, 0.1 * self.seen)

    def estimate(self) -> float | None:
        """When it came, best guess (None: not seen)."""
        if self.seen is None:
            return None
        return 0.8 * self.seen if self.missed is None else (self.missed + self.seen) / 2

    def came_at(self) -> float | None:
        """The same as a time.monotonic() value."""
        came = self.estimate()
        return None if came is None else self.start + came


class History:
    """The site's recent transition times (seconds from the phase's start), per phase."""

    def __init__(self, state_dir: Path | None, site: str) -> None:
        key = hashlib.sha256(site.encode()).hexdigest()[:16]  # any site name is a file name
        self.path = state_dir / "pace" / f"{key}.json" if state_dir is not None else None
        self._seen: dict[str, list[float]] = {}
        if self.path is not None:
            try:
                doc = json.loads(self.path.read_text())
                self._seen = {p: [float(x) for x in doc.get(p, [])][-KEEP:] for p in PHASES
                              if isinstance(doc.get(p, []), list)}
            except (OSError, ValueError, TypeError, AttributeError):
                self._seen = {}  # none yet, or unreadable: pace as for a new site

    def expect(self, phase: str) -> float | None:
        """When the phase's transition is expected (None: no run has seen it)."""
        seen = self._seen.get(phase)
        return statistics.median(seen) if seen else None

    def saw(self, phase: str, seconds: float | None) -> None:
        """Remember a transition seen this run (kept when the run ends: save())."""
        if seconds is not None and seconds >= 0:
            self._seen[phase] = [*self._seen.get(phase, []), round(seconds, 3)][-KEEP:]

    def save(self) -> None:
        """Write what this run saw (atomically; a failure only costs the next run's pacing)."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._seen))
            os.replace(tmp, self.path)
        except OSError:
            pass
