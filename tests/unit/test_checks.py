"""The one place that decides states: policy x outcome, as a table."""

from __future__ import annotations

import pytest
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from probes.checks.vm import judge
from probes.config.site import Site
from probes.runner.result import Outcome, Phase

SITE = {"name": "s", "auth": {"type": "token", "auth_url": "https://k/v3", "token": "t",
                              "project_id": "p"}, "image": {"name": "i"}}


def site(**policy: object) -> Site:
    return Site.model_validate({**SITE, "policy": policy})


@pytest.mark.parametrize("phase,policy,state", [
    (Phase("boot", Outcome.FAILED, "status ERROR"), {}, Critical),
    (Phase("boot", Outcome.UNAVAILABLE, "interrupted by SIGTERM"), {}, Unknown),
    (Phase("sweep", Outcome.WARNED, "could not delete x"), {}, Warn),
    (Phase("reach_v6", Outcome.SKIPPED, "no IPv6 address"), {"ipv6": "required"}, Critical),
    (Phase("reach_v6", Outcome.SKIPPED, "no IPv6 address"), {"ipv6": "informational"}, Ok),
    (Phase("reach_v6", Outcome.SKIPPED, "not run: boot did not pass"), {"ipv6": "required"}, Ok),
    (Phase("reach_v4", Outcome.FAILED, "timeout"), {"ipv4": "required"}, Critical),
    (Phase("reach_v4", Outcome.FAILED, "timeout"), {"ipv4": "off"}, Ok),
    (Phase("context", Outcome.FAILED, "no report"), {"context": "required"}, Critical),
    (Phase("context", Outcome.FAILED, "no report"), {"context": "informational"}, Warn),
    (Phase("context", Outcome.UNAVAILABLE, "forbidden"), {}, Unknown),
    (Phase("context", Outcome.UNAVAILABLE, "forbidden"), {"console_forbidden": "critical"},
     Critical),
    (Phase("context", Outcome.PASSED, "ok", data={"hygiene": ["2 keys"]}), {}, Warn),
    (Phase("context", Outcome.PASSED, "ok", data={"hygiene": ["2 keys"]}), {"hygiene": "off"}, Ok),
    (Phase("context", Outcome.PASSED, "ok", data={"hygiene": []}), {}, Ok),
    (Phase("mjf", Outcome.FAILED, "bad"), {"mjf": "required"}, Critical),
    (Phase("mjf", Outcome.FAILED, "bad"), {"mjf": "informational"}, Warn),
    (Phase("mjf", Outcome.WARNED, "past"), {"mjf": "required"}, Warn),
    (Phase("mjf", Outcome.SKIPPED, "off"), {"mjf": "off"}, Ok),
    (Phase("gone", Outcome.FAILED, "still there"), {}, Critical),
])
def test_judge(phase: Phase, policy: dict[str, object], state: object) -> None:
    assert judge(phase, site(**policy))[0] == state
