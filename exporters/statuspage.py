"""The status page (``/``) for people, at 1000 sites: totals per state first, then the sites
with a problem (worst first), a filter that works without JavaScript (the query string), compact
cells whose whole reason opens on demand, and pages of bounded size."""

from __future__ import annotations

import html
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from exporters.config import CHECKS
from exporters.model import STATE_NAMES, CheckRun

if TYPE_CHECKING:
    from exporters.app import Exporter

PAGE_ROWS = 100
# What a cell can be, worst first: the order rows are sorted in and totals are shown in.
KINDS = ("CRITICAL", "UNKNOWN", "WARNING", "stale", "waiting", "OK", "off")  # off: unscheduled
PROBLEMS = frozenset(KINDS[:4])  # a check waiting for its first run is not one (yet)
SHOW = ("problems", "all", *(k.lower() for k in KINDS))
_CSS = {"OK": "ok", "WARNING": "warn", "CRITICAL": "bad", "UNKNOWN": "unknown",
        "stale": "stale", "waiting": "none", "off": "none"}
_PREFIX = re.compile(r"^\S+ (?:OK|WARNING|CRITICAL|UNKNOWN) - ")


@dataclass(frozen=True)
class Cell:
    check: str
    kind: str                  # one of KINDS
    run: CheckRun | None
    age: float | None          # seconds since the last run finished


def cells_of(x: Exporter, site: str, checks: tuple[str, ...],
             intervals: Mapping[tuple[str, str], float], now: float) -> list[Cell]:
    """One cell per check of a site (scheduled or not)."""
    out = []
    for check in checks:
        last = x.store.latest(site, check)
        interval = intervals.get((site, check))
        if last is None:
            out.append(Cell(check, "waiting" if interval is not None else "off", None, None))
            continue
        age = now - last.finished
        stale = interval is not None and age > 2 * interval
        kind = "stale" if stale and last.state == 0 else STATE_NAMES[last.state]
        out.append(Cell(check, kind, last, age))
    return out


def _worst(cells: list[Cell]) -> int:
    return min(KINDS.index(c.kind) for c in cells)


def _wanted(cells: list[Cell], show: str) -> bool:
    kinds = {c.kind for c in cells}
    if show == "all":
        return True
    if show == "problems":
        return bool(kinds & PROBLEMS)
    return show.upper() in kinds or show in kinds


def render(x: Exporter, args: Mapping[str, str]) -> str:
    """The page's body for these query arguments (q, show, page)."""
    now = time.time()
    q = args.get("q", "").strip()
    show = args.get("show", "problems")
    show = show if show in SHOW else "problems"
    try:
        page = max(1, int(args.get("page", "1")))
    except ValueError:
        page = 1
    intervals = {j.key: j.options.interval for j in x.config.jobs}
    scheduled = {j.check for j in x.config.jobs}
    checks = tuple(c for c in CHECKS if c in scheduled) or CHECKS  # no empty columns
    table = {site: cells_of(x, site, checks, intervals, now) for site in x.config.sites}
    totals = Counter(c.kind for cells in table.values() for c in cells)
    sick = sum(1 for cells in table.values() if _wanted(cells, "problems"))
    rows = sorted((s for s, cells in table.items()
                   if (not q or q.casefold() in s.casefold()) and _wanted(cells, show)),
                  key=lambda s: (_worst(table[s]), s))
    first = (page - 1) * PAGE_ROWS
    shown = rows[first:first + PAGE_ROWS]
    return "".join([
        _header(x, len(table), sick),
        _totals(totals, q),
        _form(q, show),
        _table(checks, [(s, table[s]) for s in shown]) if shown else
        f"<p class=none>{_nothing(show, q, totals)}</p>",
        _pages(len(rows), page, q, show),
    ])


def _link(**params: str | int) -> str:
    """A URL of this page with these query arguments, URL- and then HTML-escaped."""
    return html.escape("?" + urlencode({k: v for k, v in params.items() if v not in ("", 1)}))


def _header(x: Exporter, sites: int, sick: int) -> str:
    reload = ("" if x.reload_ok else
              f"<p class=bad>Last config reload rejected (still running the previous config): "
              f"{html.escape(x.reload_error)}</p>")
    return (f"<h1>fedprobe exporter</h1><p>{sites} sites, {len(x.config.jobs)} scheduled "
            f"checks; <b>{sick}</b> sites with a problem. Config "
            f"{html.escape(str(x.config_path))}; <a href=/metrics>/metrics</a></p>{reload}")


def _totals(totals: Counter[str], q: str) -> str:
    parts = [f"<a class=\"total {_CSS[k]}\" href=\"{_link(q=q, show=k.lower())}\">"
             f"{k} <b>{totals[k]}</b></a>" for k in KINDS if totals[k] or k in STATE_NAMES]
    return f"<p class=totals>checks: {' '.join(parts)}</p>"


def _form(q: str, show: str) -> str:
    options = "".join(f"<option{' selected' if s == show else ''}>{s}</option>" for s in SHOW)
    return (f"<form method=get action=/><label>site <input name=q value=\"{html.escape(q)}\" "
            f"placeholder=\"part of a name\"></label> <label>show <select name=show>{options}"
            f"</select></label> <button>filter</button> <a href=/>reset</a></form>")


def _table(checks: tuple[str, ...], rows: list[tuple[str, list[Cell]]]) -> str:
    head = "".join(f"<th>{c}</th>" for c in checks)
    body = "".join(f"<tr><th><a href=\"{_link(q=site, show='all')}\">{html.escape(site)}</a>"
                   f"</th>{''.join(_cell(site, c) for c in cells)}</tr>" for site, cells in rows)
    return f"<table><tr><th>site</th>{head}</tr>{body}</table>"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _cell(site: str, cell: Cell) -> str:
    if cell.run is None:
        return f"<td class=none>{'waiting' if cell.kind == 'waiting' else '—'}</td>"
    logs = html.escape("/logs?" + urlencode({"site": site, "check": cell.check}))
    label = "OK, stale" if cell.kind == "stale" else cell.kind
    age = f" <small>{_age(cell.age or 0.0)}</small>"
    head = f"<td class={_CSS[cell.kind]}><a href=\"{logs}\">{label}</a>{age}"
    if cell.kind == "OK":
        return head + "</td>"
    reason = _PREFIX.sub("", cell.run.summary.split(" | ", 1)[0])  # no perfdata
    short = reason if len(reason) <= 48 else reason[:45].rstrip(" .,;:") + "…"
    return (f"{head}<details><summary>{html.escape(short)}</summary>{html.escape(reason)}"
            f"</details></td>")


def _nothing(show: str, q: str, totals: Counter[str]) -> str:
    if show == "problems" and not q:  # never "all OK" for checks that have not run
        waiting = (f"; {totals['waiting']} checks are still waiting for their first run"
                   if totals["waiting"] else "")
        return f"No problems: {totals['OK']} checks OK, none failed or went stale{waiting}."
    return "No site matches this filter."


def _pages(rows: int, page: int, q: str, show: str) -> str:
    pages = max(1, -(-rows // PAGE_ROWS))
    if pages == 1:
        return ""
    links = [f"<b>{n}</b>" if n == page else f"<a href=\"{_link(q=q, show=show, page=n)}\">{n}</a>"
             for n in range(1, pages + 1)]
    return f"<p>{rows} sites, page: {' '.join(links)}</p>"


STYLE = ("body{font-family:sans-serif;margin:1em 2em}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}"
         "td{max-width:22em;font-size:90%}.ok{background:#d8f5d8}.warn{background:#fff1c2}"
         ".bad{background:#f8d0d0}.unknown{background:#e4d8f0}.stale{background:#e8e8e8}"
         ".none{color:#888}summary{cursor:pointer}details[open]{max-width:40em}"
         ".total{display:inline-block;padding:2px 8px;margin:0 4px 4px 0;border-radius:4px;"
         "text-decoration:none;color:#000;border:1px solid #ccc}"
         "pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}form{margin:0 0 1em}")
