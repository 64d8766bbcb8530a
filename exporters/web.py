"""The exporter's HTTP side (a WSGI app, werkzeug request/response): /metrics (cached bytes),
/probe (a fast check now, blackbox style), /-/healthy, /-/ready, /-/reload, the / status page,
/logs (a check's recent runs with their debug logs) and /fedprobe/report/<nonce> (where guests
post their reports when report_url is set)."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.registry import Collector, CollectorRegistry
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from exporters import statuspage
from exporters.config import FAST, ConfigError
from exporters.model import STATE_NAMES, CheckRun

if TYPE_CHECKING:
    from exporters.app import Exporter

DEFAULT_SCRAPE_TIMEOUT = 10.0   # seconds, when Prometheus does not say
SCRAPE_MARGIN = 0.5             # seconds kept for answering within the scrape timeout


class WebApp:
    """WSGI callable over one Exporter."""

    def __init__(self, exporter: Exporter) -> None:
        self.x = exporter
        self.ready = False
        self.urls = Map([
            Rule("/metrics", endpoint="metrics", methods=["GET"]),
            Rule("/probe", endpoint="probe", methods=["GET"]),
            Rule("/-/healthy", endpoint="healthy", methods=["GET", "HEAD"]),
            Rule("/-/ready", endpoint="ready", methods=["GET", "HEAD"]),
            Rule("/-/reload", endpoint="reload", methods=["POST", "PUT"]),
            Rule("/", endpoint="status", methods=["GET"]),
            Rule("/logs", endpoint="logs", methods=["GET"]),
            # the guests' reports (probes/runner/inbox.py answers for the method and size)
            Rule("/fedprobe/report/<nonce>", endpoint="report"),
        ])

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, _ = self.urls.bind_to_environ(environ).match()
            response: Response = getattr(self, f"_{endpoint}")(request)
        except MethodNotAllowed as exc:
            response = _text(f"{request.method} not allowed on {request.path}\n", 405)
            response.headers["Allow"] = ", ".join(exc.valid_methods or [])
        except NotFound:
            response = _text(f"no page {request.path}: see / for what this exporter serves\n",
                             404)
        except HTTPException as exc:
            response = _text(f"{exc.description}\n", exc.code or 400)
        return response(environ, start_response)

    # -- machine endpoints ------------------------------------------------------------------------
    def _metrics(self, request: Request) -> Response:
        gz = "gzip" in request.headers.get("Accept-Encoding", "")
        _, wanted = choose_encoder(request.headers.get("Accept", ""))  # prometheus_client's
        om = wanted.startswith("application/openmetrics-text")
        content_type = OPENMETRICS if om else CONTENT_TYPE_LATEST
        if gz:
            response = Response(self.x.metrics_gzip(om), content_type=content_type)
            response.headers["Content-Encoding"] = "gzip"
        else:
            response = Response(self.x.metrics_chunks(om), content_type=content_type)
        response.headers["Vary"] = "Accept, Accept-Encoding"
        return response

    def _healthy(self, request: Request) -> Response:
        return _text("Healthy\n")

    def _ready(self, request: Request) -> Response:
        return _text("Ready\n") if self.ready else _text("Not ready\n", 503)

    def _reload(self, request: Request) -> Response:
        if self.x.reload():
            return _text("config reloaded\n")
        return _text(f"config reload rejected (previous config kept): {self.x.reload_error}\n",
                     500)

    def _probe(self, request: Request) -> Response:
        site = request.args.get("target", "")
        check = request.args.get("check") or request.args.get("module") or ""
        if check == "vm":
            return _text("check=vm cannot run inside a scrape (a VM lifecycle takes minutes): "
                         "the exporter runs it on its schedule; scrape /metrics for "
                         "fedprobe_check_status{check=\"vm\"}\n", 400)
        if check not in FAST:
            return _text(f"check {check!r}: expected one of {', '.join(FAST)}\n", 400)
        if site not in self.x.config.sites:
            return _text(f"target {site!r}: no such site (has: "
                         f"{', '.join(sorted(self.x.config.sites)) or 'none'})\n", 400)
        raw = request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
        try:
            timeout = float(raw) if raw else DEFAULT_SCRAPE_TIMEOUT
        except ValueError:
            return _text(f"X-Prometheus-Scrape-Timeout-Seconds {raw!r}: not a number\n", 400)
        timeout = max(0.5, timeout - SCRAPE_MARGIN)
        try:
            run = self.x.probe(site, check, timeout)
        except ConfigError as exc:
            return _text(f"{exc}\n", 400)
        if run is None:
            return _text("too many /probe requests at once; try again\n", 503)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_ProbeCollector(run))
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = Response(encoder(registry), content_type=content_type)
        response.headers["Vary"] = "Accept"
        return response

    # -- pages for people -------------------------------------------------------------------------
    def _report(self, request: Request) -> Response:
        return Response.from_app(self.x.inbox.wsgi, request.environ)

    def _status(self, request: Request) -> Response:
        return _page("fedprobe exporter", statuspage.render(self.x, request.args), refresh=60)

    def _logs(self, request: Request) -> Response:
        site, check = request.args.get("site", ""), request.args.get("check", "")
        _, history = self.x.store.get(site, check)
        if not history:
            return _page("no runs", f"<p>No runs of {html.escape(check)} at "
                                    f"{html.escape(site)} yet. <a href=/>back</a></p>", code=404)
        parts = []
        for run in history:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(run.started))
            parts.append(f"<h2 class={_css(run.state)}>{when} UTC — {STATE_NAMES[run.state]} "
                         f"in {run.duration:.1f}s</h2><p>{html.escape(run.summary)}</p>"
                         f"<pre>{html.escape(run.log)}</pre>")
        return _page(f"{check} at {site}", f"<h1>{html.escape(check)} at {html.escape(site)}"
                                           f"</h1><p><a href=/>back</a></p>{''.join(parts)}")


class _ProbeCollector(Collector):
    """One /probe answer: probe_success and probe_duration_seconds (as blackbox_exporter) plus
    the check's steps."""

    def __init__(self, run: CheckRun) -> None:
        self.run = run

    def collect(self) -> Iterator[Metric]:
        r = self.run
        yield GaugeMetricFamily("probe_success", "1 if the check was OK or WARNING.",
                                value=1 if r.success else 0)
        yield GaugeMetricFamily("probe_duration_seconds", "How long the check took.",
                                value=r.duration)
        yield GaugeMetricFamily("fedprobe_probe_status", "Nagios state of the check.",
                                value=r.state)
        ran = GaugeMetricFamily("fedprobe_probe_phase_ran", "1 if the step ran, 0 if it was "
                                "not reached.", labels=["phase"])
        status = GaugeMetricFamily("fedprobe_probe_phase_status", "Nagios state of each step "
                                   "that ran.", labels=["phase"])
        seconds = GaugeMetricFamily("fedprobe_probe_phase_duration_seconds", "Seconds each step "
                                    "that ran took.", labels=["phase"])
        for p in r.phases:
            ran.add_metric([p.name], 1 if p.ran else 0)
            if not p.ran:
                continue
            status.add_metric([p.name], p.state)
            if p.seconds is not None:
                seconds.add_metric([p.name], p.seconds)
        yield from (ran, status, seconds)
        expiry = GaugeMetricFamily("fedprobe_probe_credential_expiry_timestamp_seconds",
                                   "Unix time the credential expires.", labels=["kind"])
        for kind, ts in r.expiries:
            expiry.add_metric([kind], ts)
        yield expiry


def _text(body: str, code: int = 200) -> Response:
    return Response(body, status=code, content_type="text/plain; charset=utf-8")


def _css(state: int) -> str:
    return ("ok", "warn", "bad", "unknown")[state]


def _page(title: str, body: str, code: int = 200, refresh: int | None = None) -> Response:
    meta = f"<meta http-equiv=refresh content={refresh}>" if refresh else ""
    doc = (f"<!doctype html><html><head><meta charset=utf-8>{meta}<title>{html.escape(title)}"
           f"</title><style>{statuspage.STYLE}</style></head><body>{body}</body></html>")
    return Response(doc, status=code, content_type="text/html; charset=utf-8")
