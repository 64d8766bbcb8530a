"""Fault model validation and the injector's decisions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from probes.sandbox.faults import LATE_ANSWER_OPERATIONS, OPERATIONS, FaultInjector, Faults


def test_healthy_by_default() -> None:
    inj = FaultInjector(Faults())
    assert inj.latency("create") == 0.0
    assert inj.error_status("create") is None


def test_rate_one_always_fails_rate_zero_never() -> None:
    inj = FaultInjector(Faults.model_validate(
        {"errors": {"create": {"rate": 1.0, "status": 504}, "show": {"rate": 0.0}}}))
    assert {inj.error_status("create") for _ in range(50)} == {504}
    assert {inj.error_status("show") for _ in range(50)} == {None}


def test_partial_rate_is_seeded_and_roughly_right() -> None:
    faults = Faults.model_validate({"errors": {"list": {"rate": 0.3}}})
    inj1, inj2 = FaultInjector(faults, seed=7), FaultInjector(faults, seed=7)
    seq1 = [inj1.error_status("list") for _ in range(400)]
    seq2 = [inj2.error_status("list") for _ in range(400)]
    assert seq1 == seq2
    assert 80 < sum(s is not None for s in seq1) < 160


@pytest.mark.parametrize("data", [
    {"latency": {"nope": 1}}, {"latency": {"boot": -1}}, {"errors": {"x": {}}},
    {"quota_exceeded": 500}, {"whatever": True}, {"token_valid_for": 0},
])
def test_invalid_faults_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Faults.model_validate(data)


def test_replace_takes_effect() -> None:
    inj = FaultInjector(Faults())
    inj.replace(Faults.model_validate({"latency": {"boot": 2.5}}))
    assert inj.latency("boot") == 2.5


def test_late_answer_operations_are_the_state_changes() -> None:
    assert LATE_ANSWER_OPERATIONS == {"create", "delete"}
    assert LATE_ANSWER_OPERATIONS <= OPERATIONS
