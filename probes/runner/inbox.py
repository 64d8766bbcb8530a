"""The report channel: the guest may post its report home, for clouds whose console the probe
cannot read (OCCI, many EC2-likes) or as a second source next to it.

- Where: `POST <advertised URL>/fedprobe/report/<nonce>`. The advertised URL is what the guest
  can reach, which behind NAT is not the address the probe listens on (`--report-url`,
  the exporter's `report_url`). A `fedprobe vm` run opens one short-lived listener of its
  own (`--report-listen`); the exporter serves the same path on its web port, one endpoint
  for every run, routed by nonce.
- What: the same `FPR <nonce> ...` lines the console shows, as text, at most MAX_REPORT
  bytes; only a nonce a live run expects is taken (404 for any other: the listener says nothing
  about the runs it serves).
- Plain HTTP, on purpose: the guest uses busybox `wget --post-data`, which often has no TLS and
  never has the probe's CA. The report holds no secret (the user-data holds none either).
  Its authenticity is the run's 128-bit random nonce, given only in this run's user-data,
  which is as much as the console proves. Someone who can read the user-data or sniff the path
  could forge a report, as they could write to the console. Put the listener on a network the
  monitoring trusts.
- A guest that cannot reach the URL: the context phase waits for the report as it waits for
  the console, and then fails saying where the report was expected.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from probes.httpd import Servers
from probes.net import host_port, listen

MAX_REPORT = 64 * 1024   # bytes; a full report is under 4 KiB
PATH = "/fedprobe/report/"
_NONCE = re.compile(r"^[0-9a-f]{16,64}$")


class Inbox:
    """Reports posted by guests, kept for the runs that expect them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expected: set[str] = set()
        self._posted: dict[str, str] = {}

    def expect(self, nonce: str) -> None:
        """A run will look for this nonce's report."""
        with self._lock:
            self._expected.add(nonce)

    def forget(self, nonce: str) -> None:
        """The run is over: a later post of its nonce is refused."""
        with self._lock:
            self._expected.discard(nonce)
            self._posted.pop(nonce, None)

    def take(self, nonce: str) -> str | None:
        """The last report posted for this nonce (None: none yet)."""
        with self._lock:
            return self._posted.get(nonce)

    def post(self, nonce: str, body: bytes) -> int:
        """Keep a guest's post; the HTTP status to answer."""
        if len(body) > MAX_REPORT:
            return 413
        with self._lock:
            if nonce not in self._expected:
                return 404
            self._posted[nonce] = body.decode("utf-8", "replace")
        return 204

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]
             ) -> Iterable[bytes]:
        """`POST /fedprobe/report/<nonce>` (the listener's whole app; the exporter routes the
        path here)."""
        request = Request(environ)
        request.max_content_length = MAX_REPORT
        nonce = request.path[len(PATH):] if request.path.startswith(PATH) else ""
        if not _NONCE.match(nonce):
            status = 404
        elif request.method != "POST":
            status = 405
        elif (request.content_length or 0) > MAX_REPORT:
            status = 413
        else:
            status = self.post(nonce, request.stream.read(MAX_REPORT + 1))
        text = {204: "", 404: "no such report expected\n", 405: "POST only\n",
                413: f"report larger than {MAX_REPORT} bytes\n"}[status]
        response = Response(text, status, mimetype="text/plain")
        if status == 405:
            response.headers["Allow"] = "POST"
        return response(environ, start_response)


@dataclass(frozen=True)
class Channel:
    """Where guests post (the advertised base URL) and where the posts land."""

    inbox: Inbox
    url: str

    def post_url(self, nonce: str) -> str:
        """The URL this run's guest posts its report to."""
        return f"{self.url.rstrip('/')}{PATH}{nonce}"


def check_url(url: str) -> str:
    """An advertised URL: http(s)://host[:port][/path] (ValueError naming what is wrong)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or \
            parts.fragment or not re.fullmatch(r"[\x21-\x7e]+", url) or "'" in url:
        raise ValueError(f"{url!r:.80}: expected http://HOST[:PORT][/PATH] as the guest can "
                         "reach it")
    return url


@contextlib.contextmanager
def listener(listen_addr: str, advertise: str | None = None) -> Iterator[Channel]:
    """One listener for one run: the channel, served until the block ends (ValueError for a
    bad address, OSError when the port cannot be had)."""
    host, port = host_port(listen_addr)
    sock = listen(host, port)
    inbox = Inbox()
    servers = Servers([sock], inbox.wsgi, threads=4, name="fedprobe-report")
    try:
        bound_host, bound_port = servers.addresses[0]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        servers.start()
        yield Channel(inbox, check_url(advertise or f"http://{shown}:{bound_port}"))
    finally:
        servers.stop()
