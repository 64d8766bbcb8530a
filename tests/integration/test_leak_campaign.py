"""Issue 16, "no leak, whatever happens", as a campaign: benchmarks/leak_campaign.py in its CI
size (--quick: every kind of round at least once — a fault, SIGTERM, SIGKILL of the plugin
alone and of its process group, an API outage mid-run, two machines of one monitoring host at
once — plus a VM the sandbox makes undeletable), against one sandbox, `fedprobe vm` started as
Nagios starts it. The seed is random and printed (FEDPROBE_CAMPAIGN_SEED=N reruns one)."""

from __future__ import annotations

import os

import pytest

from benchmarks.leak_campaign import KINDS, run_campaign

pytestmark = pytest.mark.slow


def test_quick_campaign_finds_no_false_ok_no_bad_exit_and_leaves_no_vm() -> None:
    seed = os.environ.get("FEDPROBE_CAMPAIGN_SEED")
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        print(line)

    s = run_campaign(quick=True, seed=int(seed) if seed else None, timeout=8.0, say=say)
    report = "\n".join(lines)
    assert all(s.kinds[k] >= 1 for k in KINDS), report
    assert s.false_ok == [], report
    assert s.bad_exit == [], report
    assert s.no_status == [], report
    assert s.leaks == [], report
    assert s.cross_machine == [], report
    assert s.left_at_end == 0, report
    assert not s.overrun, report  # -t counts from the fork
    # the undeletable VM was expected, and said so by its run and by the next run's sweep
    assert s.undeletable >= 1, report
    assert s.undeletable_unreported == [], report
    assert s.undeletable_own == s.undeletable_sweep == s.undeletable, report
    assert not s.failed, report
