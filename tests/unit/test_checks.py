"""The one place that decides states: policy x outcome, as a table."""

from __future__ import annotations

import pytest
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from probes.checks.vm import finding, judge
from probes.config.site import Site
from probes.config.site import parse as parse_site
from probes.runner.result import Outcome, Phase

SITE = {"name": "s", "auth": {"type": "token", "auth_url": "https://k/v3", "token": "t",
                              "project_id": "p"}, "image": {"name": "i"}}


def site(**policy: object) -> Site:
    return parse_site({**SITE, "policy": policy})


NEEDS = {"required": Critical, "warning": Warn, "informational": Ok}


@pytest.mark.parametrize("phase,policy,state", [
    (Phase("boot", Outcome.FAILED, "status ERROR"), {}, Critical),
    (Phase("boot", Outcome.UNAVAILABLE, "interrupted by SIGTERM"), {}, Unknown),
    (Phase("sweep", Outcome.WARNED, "could not delete x"), {}, Warn),
    (Phase("reach_v6", Outcome.SKIPPED, "not run: boot did not pass"), {"ipv6": "required"}, Ok),
    (Phase("reach_v6", Outcome.SKIPPED, "not checked"), {"ipv6": "off"}, Ok),
    (Phase("context", Outcome.UNAVAILABLE, "forbidden"), {}, Unknown),
    (Phase("context", Outcome.UNAVAILABLE, "forbidden"), {"console_forbidden": "critical"},
     Critical),
    (Phase("context", Outcome.PASSED, "ok", data={"hygiene": ["2 keys"]}), {}, Warn),  # default
    (Phase("context", Outcome.PASSED, "ok", data={"hygiene": ["2 keys"]}), {"hygiene": "off"}, Ok),
    (Phase("context", Outcome.PASSED, "ok", data={"hygiene": []}), {}, Ok),
    (Phase("mjf", Outcome.FAILED, "bad"), {}, Warn),  # the default: today's WARNING stays
    (Phase("mjf", Outcome.WARNED, "past"), {"mjf": "required"}, Warn),
    (Phase("mjf", Outcome.WARNED, "past"), {"mjf": "warning"}, Warn),
    (Phase("mjf", Outcome.WARNED, "past"), {"mjf": "informational"}, Ok),
    (Phase("mjf", Outcome.SKIPPED, "off"), {"mjf": "off"}, Ok),
    (Phase("gone", Outcome.FAILED, "still there"), {}, Critical),
    (Phase("delete", Outcome.FAILED, "internal error: KeyError: 'x'"), {}, Critical),
])
def test_judge(phase: Phase, policy: dict[str, object], state: object) -> None:
    assert judge(phase, site(**policy))[0] == state


@pytest.mark.parametrize("need", sorted(NEEDS))
@pytest.mark.parametrize("phase,key,word", [
    (Phase("reach_v4", Outcome.FAILED, "no IPv4 address"), "ipv4", "IPv4"),
    (Phase("reach_v6", Outcome.FAILED, "[::1]:22 refused"), "ipv6", "IPv6"),
    (Phase("context", Outcome.FAILED, "no console read after 8.0s"), "context", "context"),
    (Phase("context", Outcome.PASSED, "ok", data={"hygiene": ["2 keys"]}), "hygiene",
     "hygiene"),
    (Phase("mjf", Outcome.FAILED, "no machine/job features"), "mjf", "mjf"),
])
def test_policy_words_mean_one_thing(phase: Phase, key: str, word: str, need: str) -> None:
    """required -> CRITICAL, warning -> WARNING, informational -> OK with the finding named."""
    state, hint = judge(phase, site(**{key: need}))
    assert state == NEEDS[need]
    assert hint.endswith(f" ({word} {need})")
    assert finding(phase, site(**{key: need})) is not None


def test_mjf_cannot_be_required_with_context_off() -> None:
    with pytest.raises(ValueError, match="mjf is required but context is off"):
        site(context="off", mjf="required")
    assert site(context="off", mjf="off").policy.context == "off"
