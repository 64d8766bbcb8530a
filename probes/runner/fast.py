"""The fast checks as a library: Keystone (login time, token lifetime, catalog, version
documents) and the cloud APIs (read-only compute/image/network calls, quota headroom for one tiny
VM). Each returns timed Steps and a one-line summary; `fedprobe keystone|api` and the exporter
render them. Every request is bounded by what is left of the one deadline."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from probes.checks.steps import CRITICAL, OK, WARNING, Step

if TYPE_CHECKING:
    from probes.auth.keystone import Login
    from probes.config.site import OpenStackSite, Site
    from probes.deadline import Deadline

SERVICES = ("compute", "image", "network")


@dataclass(frozen=True)
class Checked:
    """The steps of one fast check and the summary to show when all are OK."""

    steps: tuple[Step, ...]
    summary: str
    token_expires: float | None = None  # Unix time the new token expires (keystone)


def _login(site: OpenStackSite, deadline: Deadline) -> tuple[Login | None, Step]:
    from probes.auth.keystone import AuthError, login

    start = time.monotonic()
    try:
        sess = login(site, max(0.1, deadline.left()))
    except AuthError as exc:
        return None, Step("auth", CRITICAL, str(exc), time.monotonic() - start)
    return sess, Step("auth", OK, sess.method, time.monotonic() - start)


def keystone(site: OpenStackSite, deadline: Deadline, services: Sequence[str] = SERVICES,
             token_warning: float = 600.0) -> Checked:
    """Login, token lifetime, catalog entries for `services`, their version documents."""
    from keystoneauth1.exceptions import EndpointNotFound

    from probes.drivers.answer import MALFORMED

    sess, step = _login(site, deadline)
    if sess is None:
        return Checked((step,), "")
    steps = [step]
    expires = dt.datetime.fromisoformat(sess.expires_at.replace("Z", "+00:00"))
    left = (expires - dt.datetime.now(dt.UTC)).total_seconds()
    steps.append(Step("token_lifetime", OK if left >= token_warning else WARNING,
                      f"token valid {int(left)}s"))
    catalog = sess.session.auth.get_access(sess.session).service_catalog  # type: ignore[union-attr]
    for service in services:
        try:
            url = catalog.url_for(service_type=service, interface=site.interface,
                                  region_name=site.region)
        except EndpointNotFound:
            url = None
        except MALFORMED as exc:  # keystoneauth reads the catalog only now
            steps.append(Step(f"catalog_{service}", CRITICAL, "the token's catalog is "
                              f"malformed ({type(exc).__name__})"))
            continue
        if not url:
            where = f" in region {site.region}" if site.region else ""
            steps.append(Step(f"catalog_{service}", CRITICAL,
                              f"no {site.interface} {service} endpoint in the catalog{where}"))
            continue
        steps.append(_version(sess, service, url, deadline))
    summary = (f"Keystone at {site.auth.auth_url}: {step.detail} in {step.seconds or 0:.2f}s, "
               f"token valid {int(left)}s, {len(services)} services answer")
    return Checked(tuple(steps), summary, expires.timestamp())


def _version(sess: Login, service: str, url: str, deadline: Deadline) -> Step:
    start = time.monotonic()
    try:
        resp = sess.session.get(url, authenticated=False, raise_exc=False,
                                timeout=max(0.1, deadline.left()))
    except Exception as exc:  # any transport failure is this endpoint's CRITICAL
        return Step(f"version_{service}", CRITICAL, f"{url}: {type(exc).__name__}")
    ok = resp.status_code in (200, 300)
    return Step(f"version_{service}", OK if ok else CRITICAL, f"{url} answered {resp.status_code}",
                time.monotonic() - start)


def api(site: Site, deadline: Deadline) -> Checked:
    """Log in, then the driver's read-only API calls, each timed (its probe_api)."""
    from probes import drivers
    from probes.drivers.base import ApiProbe, LoginRefused

    driver = drivers.create(site)
    if not isinstance(driver, ApiProbe):  # the registry lets only such sites through
        raise ValueError(f"the {driver.name} driver offers no read-only API probe")
    start = time.monotonic()
    try:
        identity = driver.connect(deadline)
    except LoginRefused as exc:
        return Checked((Step("auth", CRITICAL, str(exc), time.monotonic() - start),), "")
    steps = [Step("auth", OK, identity.method, time.monotonic() - start),
             *driver.probe_api(deadline)]
    summary = f"compute, image and network APIs answer at {site.name}"
    if steps[-1].name == "quota":
        summary += f"; {steps[-1].detail}"
    return Checked(tuple(steps), summary)
