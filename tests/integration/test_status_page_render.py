"""The status page of 1000 sites as a browser shows it: Debian's chromium-headless-shell renders
it (in a network namespace of its own: it reaches nothing) and the test reads the screenshot's
pixels — the totals on top in their state colours, problem rows first."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from werkzeug.test import Client

from exporters.web import WebApp
from probes import programs
from tests.png import count, pixels
from tests.unit.test_status_page import exporter

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="unshare -n needs root")]

RED, YELLOW, PURPLE, GREEN = (248, 208, 208), (255, 241, 194), (228, 216, 240), (216, 245, 216)


def screenshot(html: Path, png: Path) -> None:
    """chromium-headless-shell, offline, 1200x900."""
    proc = subprocess.run(
        [programs.require("unshare"), "-n", programs.require("chromium-headless-shell"),
         "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={html.parent / 'chromium'}", f"--screenshot={png}",
         "--window-size=1200,900", html.as_uri()],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(html.parent)})
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]


def test_the_status_page_of_1000_sites_renders(tmp_path: Path) -> None:
    client = Client(WebApp(exporter(tmp_path, 1000)))
    page = client.get("/").get_data(as_text=True)
    html = tmp_path / "status.html"
    html.write_text(page)
    png = tmp_path / "status.png"
    screenshot(html, png)
    width, height, rows = pixels(png)
    assert (width, height) == (1200, 900)
    totals = (100, 150)  # the line of totals, under the title and the summary line
    assert count(rows, RED, *totals) > 500, "no CRITICAL total in red at the top"
    assert count(rows, YELLOW, *totals) > 500 and count(rows, PURPLE, *totals) > 500
    # the table: problems first, so the first screenful is mostly red (vm) and green cells
    assert count(rows, RED, 220) > 100_000 and count(rows, GREEN, 220) > 50_000
    print(f"screenshot: {png}")
