"""The Grafana dashboard: well-formed, every panel on the templated Prometheus data source and
filtered by $site, every query valid PromQL on documented series — and each one, sent to a real
Prometheus scraping a synthetic exposition of every documented series, answers with data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dashboard_queries import DASHBOARD, expand, panels, queries
from tests.metrics_doc import documented_series, series_in
from tests.promstack import ExpositionServer, PromServer, promtool, start_prometheus
from tests.synthetic_metrics import SITES, growing_exposition, render

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Series with a site label: every selector of one must carry the $site filter.
PER_SITE = re.compile(r"\bfedprobe_(?:check|phase|vm|credential)_\w+")


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def _panels() -> list[dict[str, Any]]:
    return [p for p in panels(_dashboard()) if p["type"] != "row"]


def test_dashboard_identity_and_variables() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "fedprobe"
    assert dashboard["schemaVersion"] == 39
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    site = variables["site"]
    assert site["type"] == "query" and site["datasource"] == DATASOURCE
    assert site["definition"] == "label_values(fedprobe_check_status, site)"
    assert site["multi"] and site["includeAll"] and site["allValue"] == ".*"


def test_every_panel_has_the_datasource_and_a_target() -> None:
    ids = [p["id"] for p in panels(_dashboard())]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"] == DATASOURCE and t["expr"] for t in panel["targets"])
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]


def test_status_panels_map_nagios_states_to_colours() -> None:
    want = {"0": ("OK", "green"), "1": ("WARNING", "yellow"), "2": ("CRITICAL", "red"),
            "3": ("UNKNOWN", "purple")}
    status = [p for p in _panels() if any("fedprobe_check_status" in t["expr"]
                                          for t in p["targets"])]
    assert len(status) >= 2  # the matrix now and the timeline
    for panel in status:
        (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
        got = {k: (v["text"], v["color"]) for k, v in mapping["options"].items()}
        assert got == want, panel["title"]


def test_per_site_series_are_filtered_by_the_site_variable() -> None:
    for title, expr in queries():
        for match in PER_SITE.finditer(expr):
            selector = expr[match.end():].split("}", 1)[0]
            assert selector.startswith("{") and 'site=~"$site"' in selector, (title, expr)


BOUND = re.compile(r"^(topk|bottomk)\((\d+),")
AGGREGATED = re.compile(r"\b(sum|min|max|avg|count|histogram_quantile)\b")


def bounded(expr: str) -> bool:
    """At most 50 series whatever the number of sites: a topk/bottomk of at most 50 around
    it, or every per-site series aggregated away (no `by (site, ...)`)."""
    top = BOUND.match(expr.strip())
    if top:
        return int(top.group(2)) <= 50
    if not PER_SITE.search(expr):
        return True
    groups = re.findall(r"\bby \(([^)]*)\)", expr)
    return bool(AGGREGATED.search(expr)) and not any("site" in g for g in groups)


def test_no_panel_grows_with_the_number_of_sites() -> None:
    """With "All" of 1000 sites selected, a panel repeated per site was 1000 panels, and an
    unbounded per-site query thousands of rows: no repeat, every query bounded."""
    for panel in panels(_dashboard()):
        assert "repeat" not in panel, panel["title"]
    for title, expr in queries():
        assert bounded(expr), (title, expr)
    assert not bounded('max by (site, check) (fedprobe_check_status{site=~"$site"})')
    assert not bounded('fedprobe_check_duration_seconds{site=~"$site"}')
    assert bounded('topk(20, fedprobe_check_duration_seconds{site=~"$site"})')
    assert bounded('max by (phase) (fedprobe_phase_ran{site=~"$site"})')


def test_queries_name_only_documented_series() -> None:
    documented = documented_series()
    for title, expr in queries():
        assert series_in(expr), (title, expr)
        assert series_in(expr) <= documented, (title, expr)


def test_queries_come_from_collapsed_rows_too() -> None:
    titles = {title for title, _ in queries()}
    assert {"Status now", "VM boot time percentiles", "Scheduling lag"} <= titles
    assert len(queries()) == sum(len(p["targets"]) for p in _panels())


def test_expand_replaces_grafana_variables() -> None:
    expr = ('rate(x{site=~"$site", check=~"${check}"}[$__rate_interval]) '
            '+ y[$__range] + $__range_s + [[site]] + $__interval_ms')
    assert expand(expr, site_regex="a|b", range="6h", interval="30s", check_regex="vm") == (
        'rate(x{site=~"a|b", check=~"vm"}[60s]) + y[21600s] + 21600 + a|b + 30000')
    # Grafana's $__rate_interval: max($__interval + scrape interval, 4 * scrape interval)
    assert "[75s]" in expand("[$__rate_interval]", interval="1m")
    assert "[8s]" in expand("[$__rate_interval]", interval="5s", scrape_interval="2s")
    assert expand("$pool", variables={"pool": "vm"}) == "vm"
    with pytest.raises(KeyError, match="sitee"):
        expand('x{site=~"$sitee"}')


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """Offline first, for a clear message: promtool parses each as a recording rule."""
    rules = [{"record": f"dashboard:query_{i}", "expr": expand(expr)}
             for i, (_, expr) in enumerate(queries())]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_synthetic_exposition_is_lint_clean_and_complete() -> None:
    text = render(1, 1.8e9)
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr
    served = {line.split("{", 1)[0].split(" ", 1)[0]
              for line in text.splitlines() if not line.startswith("#")}
    assert served == documented_series()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromServer]:
    """Prometheus scraping the synthetic exposition every second, with two scrapes in (so
    rates and increases have data)."""
    with ExpositionServer(growing_exposition()) as target, \
            start_prometheus(tmp_path_factory.mktemp("dashboard"), [target.target]) as prom:
        prom.wait_for("increase(fedprobe_check_runs_total[1m]) > 0", timeout=20)
        yield prom


@pytest.mark.parametrize(("title", "expr"), queries(),
                         ids=[f"{i}-{title}" for i, (title, _) in enumerate(queries())])
def test_every_query_returns_data(prometheus: PromServer, title: str, expr: str) -> None:
    promql = expand(expr, site_regex="|".join(SITES), scrape_interval="1s")
    assert prometheus.query(promql), f"{title}: no data for {promql}"
    assert prometheus.query_range(promql, step=1.0), f"{title}: no range data for {promql}"
