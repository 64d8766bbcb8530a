"""The alert rules: promtool accepts them and their unit tests pass, every alert has a test where
it fires and one where it must not, they name only documented series, and a real Prometheus
evaluates them without error on a scrape of every documented series."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.metrics_doc import documented_series, series_in
from tests.promstack import ExpositionServer, PromServer, promtool, start_prometheus
from tests.synthetic_metrics import growing_exposition

ALERTS = Path(__file__).resolve().parents[2] / "exporters/alerts"
RULES = ALERTS / "fedprobe.rules.yml"
RULE_TESTS = ALERTS / "fedprobe.rules.test.yml"


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _alert_tests() -> list[dict[str, Any]]:
    return [case for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]
            for case in group.get("alert_rule_test", [])]


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_case_and_a_quiet_case() -> None:
    """A new alert (or a new severity of one) without tests fails here."""
    firing = {(case["alertname"], alert["exp_labels"]["severity"])
              for case in _alert_tests() for alert in case.get("exp_alerts") or []}
    quiet = {case["alertname"] for case in _alert_tests() if not case.get("exp_alerts")}
    rules = {(rule["alert"], rule["labels"]["severity"]) for rule in _alerts()}
    assert rules - firing == set(), "alerts no test expects to fire"
    assert {name for name, _ in rules} - quiet == set(), "alerts no test expects to stay quiet"
    assert {name for name, _ in firing} | quiet <= {name for name, _ in rules}, \
        "tests of alerts that do not exist"


def test_alerts_have_a_severity_and_say_what_is_wrong() -> None:
    for rule in _alerts():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_rules_use_only_documented_series() -> None:
    documented = documented_series()
    for rule in _rules():
        assert series_in(rule["expr"]) <= documented, rule.get("alert") or rule.get("record")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromServer]:
    """Prometheus evaluating the rules every second on a scrape of the synthetic exposition."""
    tmp = tmp_path_factory.mktemp("rules")
    with ExpositionServer(growing_exposition()) as target, \
            start_prometheus(tmp, [target.target], rule_files=[RULES]) as prom:
        yield prom


def test_prometheus_evaluates_every_rule_without_error(prometheus: PromServer) -> None:
    expected = {"FedprobeVMProbeFailing", "FedprobeVMLeaked", "FedprobeCredentialExpiring"}
    for name in sorted(expected):
        prometheus.wait_for(f'ALERTS{{alertname="{name}"}}')
    rules = prometheus.rules()
    assert len(rules) == len(_rules())
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []
    # site-b's VM never succeeded since the (synthetic) exporter started: all its runs failed.
    failures = {s["metric"]["site"]: float(s["value"][1]) for s in prometheus.query(
        'fedprobe:check_consecutive_failures{check="vm"}')}
    assert failures["site-a"] == 0 and failures["site-b"] > 10
    # site-b leaked a VM and fails, both sites' VOMS ACs expire in 11 h; nothing else is wrong.
    active = {s["metric"]["alertname"] for s in prometheus.query("ALERTS")}
    assert active == expected
