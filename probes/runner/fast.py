"""The fast checks as a library: Keystone (login time, token lifetime, catalog, version
documents) and the cloud APIs (read-only compute/image/network calls, quota headroom for one tiny
VM). Each returns timed Steps and a one-line summary; `fedprobe keystone|api` and the exporter
render them. Every request is bounded by what is left of the one deadline."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from probes.checks.steps import CRITICAL, OK, WARNING, Step

if TYPE_CHECKING:
    from probes.auth.keystone import Login
    from probes.config.site import Site
    from probes.deadline import Deadline
    from probes.drivers.openstack import OpenStackDriver

SERVICES = ("compute", "image", "network")


@dataclass(frozen=True)
class Checked:
    """The steps of one fast check and the summary to show when all are OK."""

    steps: tuple[Step, ...]
    summary: str
    token_expires: float | None = None  # Unix time the new token expires (keystone)


def _login(site: Site, deadline: Deadline) -> tuple[Login | None, Step]:
    from probes.auth.keystone import AuthError, login

    start = time.monotonic()
    try:
        sess = login(site, max(0.1, deadline.left()))
    except AuthError as exc:
        return None, Step("auth", CRITICAL, str(exc), time.monotonic() - start)
    return sess, Step("auth", OK, sess.method, time.monotonic() - start)


def keystone(site: Site, deadline: Deadline, services: Sequence[str] = SERVICES,
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
    """Flavors, images, networks, limits; quota headroom for the smallest flavor."""
    from probes import drivers
    from probes.drivers.answer import answer, obj
    from probes.drivers.base import DriverError

    sess, step = _login(site, deadline)
    if sess is None:
        return Checked((step,), "")
    steps = [step]
    # The calls are OpenStack's (compute, image, network adapters) until drivers offer a
    # read-only API probe of their own.
    driver = cast("OpenStackDriver", drivers.create(site))
    driver.attach(sess)  # logged in above, with the login's own step
    calls = [("flavors", driver.compute, "/flavors/detail", None),
             ("images", driver.image, "/v2/images", {"limit": 1}),
             ("networks", driver.network, "/v2.0/networks", {"limit": 1}),
             ("limits", driver.compute, "/limits", None)]
    found: dict[str, Any] = {}
    for name, adapter, path, params in calls:
        start = time.monotonic()
        try:
            resp = driver.call(adapter, "GET", path, deadline, ok=(200,), what=name,
                               params=params)
            with answer(name):
                found[name] = obj(resp.json())
        except DriverError as exc:
            steps.append(Step(name, CRITICAL, str(exc)))
            continue
        steps.append(Step(name, OK, f"GET {path} answered 200", time.monotonic() - start))
    if "flavors" in found and "limits" in found:
        try:
            with answer("flavors and limits"):
                steps.append(headroom(found["flavors"], found["limits"]))
        except DriverError as exc:
            steps.append(Step("quota", CRITICAL, str(exc)))
    summary = f"compute, image and network APIs answer at {site.name}"
    if steps[-1].name == "quota":
        summary += f"; {steps[-1].detail}"
    return Checked(tuple(steps), summary)


def headroom(flavor_doc: dict[str, Any], limits_doc: dict[str, Any]) -> Step:
    """Whether the project's quota leaves room for one VM of the smallest flavor (the answers
    of /flavors/detail and /limits; read inside answer(): a malformed one raises)."""
    from probes.drivers.answer import count, obj, objects, text

    flavors = objects(flavor_doc.get("flavors", []))
    for f in flavors:
        text(f["name"])
        f["vcpus"], f["ram"], f["disk"] = count(f["vcpus"]), count(f["ram"]), count(f["disk"])
    given = obj(obj(limits_doc["limits"])["absolute"])
    used = ("maxTotalInstances", "totalInstancesUsed", "maxTotalCores", "totalCoresUsed",
            "maxTotalRAMSize", "totalRAMUsed")
    absolute = {k: _whole(given[k]) for k in used if k in given}
    if not flavors:
        return Step("quota", CRITICAL, "no flavors offered")
    tiny = min(flavors, key=lambda f: (f["vcpus"], f["ram"], f["disk"]))
    limit_key = {"instances": "maxTotalInstances", "cores": "maxTotalCores",
                 "ram": "maxTotalRAMSize"}
    left = {"instances": absolute.get("maxTotalInstances", -1)
            - absolute.get("totalInstancesUsed", 0),
            "cores": absolute.get("maxTotalCores", -1) - absolute.get("totalCoresUsed", 0),
            "ram": absolute.get("maxTotalRAMSize", -1) - absolute.get("totalRAMUsed", 0)}
    need = {"instances": 1, "cores": tiny["vcpus"], "ram": tiny["ram"]}
    short = [k for k in need if 0 <= left[k] < need[k] or
             (left[k] < 0 and absolute.get(limit_key[k], -1) >= 0)]
    if short:
        return Step("quota", CRITICAL, f"no quota for one {tiny['name']}: "
                                       + ", ".join(f"{k} left {left[k]} < {need[k]}"
                                                   for k in short))
    return Step("quota", OK, f"room for a {tiny['name']} ({left['instances']} instances, "
                             f"{left['cores']} cores, {left['ram']} MiB left)")


def _whole(value: Any) -> int:
    """A limit or usage: a whole number (-1 is "no limit"), or TypeError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    return value
