"""Clock skew between the site and this host, from the HTTP `Date` header of Keystone's version
document (unauthenticated, through a keystoneauth1 session as the login uses). Tokens, OIDC
assertions and X509 proxies are all checked against clocks: a site minutes off refuses valid
credentials or accepts expired ones.

A `Date` header has one-second resolution and is truncated: the site's clock at the moment it
answered lies in [D, D+1). Taking the request's midpoint on this host as that moment, the skew
is D + 0.5 - midpoint, give or take 0.5 s plus half the round trip; only a skew beyond that
uncertainty counts."""

from __future__ import annotations

import email.utils
import time

from probes.selftest.model import Result, Status

TITLE = "Clock skew between the site and this host"
WARN_SECONDS = 5.0     # beyond this, tokens and proxies near their edges misbehave
FAIL_SECONDS = 60.0    # beyond this, fresh OIDC tokens and proxies are refused or misread
_FIX = ("synchronise the site's clocks with NTP (chrony or systemd-timesyncd on the API and "
        "hypervisor hosts)")


def measure(url: str, verify: bool | str, timeout: float) -> tuple[float, float]:
    """(skew seconds, site ahead when positive; uncertainty seconds) from URL's Date header.
    Raises ValueError with a one-line reason when there is no usable answer."""
    import requests
    from keystoneauth1 import exceptions as ks_exc
    from keystoneauth1 import session

    sess = session.Session(verify=verify, timeout=timeout, user_agent="fedprobe")
    before = time.time()
    try:
        resp = sess.get(url, authenticated=False, raise_exc=False)
    except (ks_exc.ClientException, requests.RequestException) as exc:
        raise ValueError(f"{url}: {type(exc).__name__}") from None
    after = time.time()
    header = resp.headers.get("Date")
    if not header:
        raise ValueError(f"{url} answered {resp.status_code} without a Date header")
    try:
        stamp = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        raise ValueError(f"{url}: a Date header that is not an HTTP date: "
                         f"{header[:40]!r}") from None
    midpoint = (before + after) / 2
    return stamp + 0.5 - midpoint, 0.5 + (after - before) / 2


def check(url: str, verify: bool | str, timeout: float) -> Result:
    """The clock_skew Result for the site whose Keystone is at URL."""
    start = time.monotonic()
    try:
        skew, uncertainty = measure(url, verify, timeout)
    except ValueError as exc:
        return Result("clock_skew", TITLE, Status.COULD_NOT_RUN, str(exc))
    seconds = time.monotonic() - start
    sure = abs(skew) - uncertainty  # the least the skew can be
    if sure <= 0:
        evidence = (f"the site's clock agrees with this host's to within ±{uncertainty:.1f}s "
                    f"(from Keystone's Date header)")
    else:
        way = "ahead of" if skew > 0 else "behind"
        evidence = (f"the site's clock is {abs(skew):.1f}s {way} this host's "
                    f"(±{uncertainty:.1f}s, from Keystone's Date header)")
    data = {"skew_seconds": round(skew, 3), "uncertainty_seconds": round(uncertainty, 3)}
    if sure > FAIL_SECONDS:
        return Result("clock_skew", TITLE, Status.FAIL, evidence, _FIX, seconds, data)
    if sure > WARN_SECONDS:
        return Result("clock_skew", TITLE, Status.WARN, evidence, _FIX, seconds, data)
    return Result("clock_skew", TITLE, Status.PASS, evidence, seconds=seconds, data=data)
