"""The status page at 1000 sites: totals per state on top, problems first, a server-side filter,
compact cells whose whole reason opens on demand, bounded pages, and links that survive any
site name."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from werkzeug.test import Client

from exporters.app import Exporter
from exporters.model import CRITICAL, OK, UNKNOWN, WARNING, CheckRun
from exporters.statuspage import PAGE_ROWS
from exporters.web import WebApp

ODD = ("A+B", "A&B #2", "<script>x</script>")
REASON = ("FEDCLOUD_VM CRITICAL - boot: status ERROR: No valid host was found. There are not "
          "enough hosts available. | auth=0.1s;;;0")


def exporter(root: Path, sites: int) -> Exporter:
    names = [*ODD, *(f"SITE-{i:04d}" for i in range(sites - len(ODD)))]
    auth = {"type": "token", "auth_url": "https://k/v3", "token": "t", "project_id": "p"}
    (root / "sites.yaml").write_text(yaml.safe_dump({"sites": {
        n: {"image": {"name": "cirros"}, "auth": auth} for n in names}}))
    (root / "exporter.yaml").write_text(yaml.safe_dump({
        "sites_file": "sites.yaml", "monitoring_host": "probe.example.org",
        "checks": {"keystone": {"interval": 60}, "api": {"interval": 120}}}))
    x = Exporter(root / "exporter.yaml")
    now = time.time()
    for name in names:
        n = int(name[5:]) if name.startswith("SITE-") else -1
        state = CRITICAL if name in ODD or n % 97 == 0 else OK
        x.store.record(CheckRun(name, "openstack", "vm", state, REASON if state else
                                "FEDCLOUD_VM OK - VM lifecycle OK", now - 90, 30.0, log="log"),
                       only_scheduled=True)
        warned = n % 50 == 1
        x.store.record(CheckRun(name, "openstack", "keystone", WARNING if warned else OK,
                                "KEYSTONE WARNING - token_lifetime: token valid 300s" if warned
                                else "KEYSTONE OK - fine", now - 10, 0.5), only_scheduled=True)
    x.store.record(CheckRun("SITE-0100", "openstack", "api", UNKNOWN,
                            "CLOUD_API UNKNOWN - internal error", now - 5, 0.1),
                   only_scheduled=True)
    # a result older than two intervals is stale, even when it was OK
    x.store.record(CheckRun("SITE-0002", "openstack", "keystone", OK, "KEYSTONE OK - fine",
                            now - 3600, 0.5), only_scheduled=True)
    return x


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(WebApp(exporter(tmp_path_factory.mktemp("status"), 1000)))


def get(client: Client, query: str = "") -> str:
    resp = client.get("/" + query)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def rows(page: str) -> list[str]:
    return re.findall(r"<tr><th><a href=\"[^\"]*\">([^<]*)</a>", page)


def test_totals_first_and_problems_only_by_default(big: Client) -> None:
    page = get(big)
    assert len(page.encode()) < 100_000, len(page.encode())  # was 767 kB for 1000 sites
    totals = page[:page.index("<form")]
    counts = dict(re.findall(r">(\w+) <b>(\d+)</b>", totals))
    assert counts["CRITICAL"] == str(3 + len(range(0, 997, 97)))
    assert counts["WARNING"] == "20" and counts["UNKNOWN"] == "1" and counts["stale"] == "1"
    assert int(counts["OK"]) > 1500 and int(counts["waiting"]) == 999  # api: no run yet
    shown = rows(page)
    assert shown[:3] == sorted(["&lt;script&gt;x&lt;/script&gt;", "A&amp;B #2", "A+B"])
    assert "SITE-0097" in shown and "SITE-0003" not in shown  # waiting only: not shown
    assert shown.index("SITE-0970") < shown.index("SITE-0100") < shown.index("SITE-0001") \
        < shown.index("SITE-0002")                             # worst first
    assert "<script>x</script>" not in page                   # escaped everywhere


def test_a_red_cell_says_why_on_demand(big: Client) -> None:
    page = get(big, "?q=SITE-0097")
    assert rows(page) == ["SITE-0097"]
    assert ("<details><summary>boot: status ERROR: No valid host was found…</summary>"
            "boot: status ERROR: No valid host was found. There are not enough hosts available."
            "</details>") in page  # the whole reason (not cut at 160), without perfdata


def test_filter_by_state_and_name_without_javascript(big: Client) -> None:
    assert "<script" not in get(big).replace("&lt;script", "")
    warned = rows(get(big, "?show=warning"))
    assert len(warned) == 20 and warned[0] == "SITE-0001"
    assert rows(get(big, "?show=unknown")) == ["SITE-0100"]
    assert rows(get(big, "?q=a%2Bb&show=all")) == ["A+B"]           # case-insensitive
    assert "No site matches this filter." in get(big, "?q=nowhere&show=all")
    assert rows(get(big, "?show=bogus")) == rows(get(big))            # unknown: default view


def test_pages_are_bounded(big: Client) -> None:
    first, last = get(big, "?show=all"), get(big, "?show=all&page=10")
    assert len(rows(first)) == PAGE_ROWS and len(rows(last)) == 1000 - 9 * PAGE_ROWS
    assert "1000 sites, page: <b>1</b> <a href=\"?show=all&amp;page=2\">2</a>" in first
    assert rows(get(big, "?show=all&page=x")) == rows(first)


@pytest.mark.parametrize("site", ODD)
def test_links_survive_any_site_name(big: Client, site: str) -> None:
    page = get(big, "?show=all&" + "q=" + site.replace("&", "%26").replace("+", "%2B")
               .replace("#", "%23"))
    links = re.findall(r"href=\"(/logs\?[^\"]+)\"", page)
    assert links, page
    for link in links:
        resp = big.get(link.replace("&amp;", "&"))
        assert resp.status_code == 200, (link, resp.get_data(as_text=True)[:200])
        assert "No runs" not in resp.get_data(as_text=True)


def test_no_problem_at_all_says_so(tmp_path: Path) -> None:
    x = exporter(tmp_path, 3)
    for site in ODD:
        x.store.record(CheckRun(site, "openstack", "vm", OK, "ok", 2e9, 1.0), only_scheduled=True)
        x.store.record(CheckRun(site, "openstack", "keystone", OK, "ok", 2e9, 1.0),
                       only_scheduled=True)
    page = get(Client(WebApp(x)))
    assert "<b>0</b> sites with a problem" in page
    assert ("No problems: 6 checks OK, none failed or went stale; 3 checks are still waiting "
            "for their first run.") in page  # api has not run: not claimed OK
