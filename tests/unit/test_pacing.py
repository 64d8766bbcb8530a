"""probes/runner/pacing.py: the looks' gaps with and without an expectation, the estimate a
watch draws from its looks, and the history the state directory keeps per site."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from probes.deadline import Deadline
from probes.runner import pacing
from probes.runner.pacing import History, Watch, gaps


def first(n: int, expect: float | None, cap: float = pacing.CAP) -> list[float]:
    return [round(g, 3) for g in itertools.islice(gaps(expect, cap), n)]


def test_without_an_expectation_gaps_double_from_a_tenth_to_the_cap() -> None:
    assert first(9, None) == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 15.0]
    assert first(4, None, cap=0.5) == [0.1, 0.2, 0.4, 0.5]


def test_with_one_the_looks_gather_around_it() -> None:
    g = first(7, 30.0, cap=10.0)
    assert g[0] == 28.5                      # the first look at 95%
    assert g[1:3] == [1.5, 1.5]              # two more 5% apart
    assert g[3:] == [3.0, 6.0, 10.0, 10.0]   # then doubling, up to the cap
    assert first(3, 0.1) == [0.095, 0.02, 0.02]  # never closer than 0.02 s
    assert first(2, 0.01) == [0.1, 0.2]      # too small to aim at: as without one


def test_the_estimate_is_between_the_last_miss_and_the_hit() -> None:
    watch = Watch(None)
    looks = watch.looks(Deadline(5))
    next(looks)
    watch.miss()
    next(looks)                              # 0.1 s later
    seen = watch.hit()
    assert watch.missed is not None and watch.missed < 0.01 and seen >= 0.1
    assert watch.estimate() == pytest.approx((watch.missed + seen) / 2)
    early = Watch(None)
    next(early.looks(Deadline(5)))
    early.hit()                              # seen at the first look: a little before
    assert early.estimate() == pytest.approx(0.8 * (early.seen or 0))
    assert Watch(1.0).estimate() is None     # not seen


def test_an_expected_watch_sleeps_before_its_first_look() -> None:
    watch = Watch(0.3)
    next(watch.looks(Deadline(5)))
    assert watch.hit() >= 0.285


def test_history_keeps_the_last_five_per_site_and_expects_their_median(tmp_path: Path) -> None:
    h = History(tmp_path, "site A")
    assert h.expect("boot") is None
    for s in (9.0, 3.0, 7.0, 8.0, 6.0, 5.0, 5.5):
        h.saw("boot", s)
    h.saw("gone", None)                      # not seen: nothing learnt
    h.save()
    again = History(tmp_path, "site A")
    assert again.expect("boot") == 6.0       # 9 and 3 fell out: the median of 7 8 6 5 5.5
    assert again.expect("gone") is None
    assert History(tmp_path, "site B").expect("boot") is None  # per site
    files = list((tmp_path / "pace").iterdir())  # one file, not named after the site
    assert len(files) == 1 and "site" not in files[0].name
    assert json.loads(files[0].read_text())["boot"] == [7.0, 8.0, 6.0, 5.0, 5.5]


def test_a_broken_history_paces_as_for_a_new_site(tmp_path: Path) -> None:
    h = History(tmp_path, "s")
    h.saw("boot", 2.0)
    h.save()
    path = next((tmp_path / "pace").iterdir())
    for broken in ("{", '["boot"]', '{"boot": "x"}', '{"boot": [1, "y"]}'):
        path.write_text(broken)
        assert History(tmp_path, "s").expect("boot") is None
    History(None, "s").save()                # no state directory: nothing written, no error


def test_a_watch_is_precise_only_when_a_look_missed_just_before_the_hit() -> None:
    def watched(missed: float | None, seen: float) -> Watch:
        w = Watch(None)
        w.missed, w.seen = missed, seen
        return w

    assert watched(7.6, 8.0).precise()          # 5 % apart
    assert not watched(6.3, 12.7).precise()      # a doubling gap: anywhere in 6 s
    assert watched(0.0, 0.1).precise()           # 0.1 s is close enough
    assert not watched(None, 0.5).precise()      # the first look saw it: when, unknown
