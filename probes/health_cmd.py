"""``fedprobe keystone`` and ``fedprobe api``: cheap checks to run every minute.

keystone: time to authenticate, token lifetime left, the catalog has the required services for
the region, and each endpoint's version document answers. api: read-only calls to compute,
image and network (flavors, images, networks, limits) and the quota headroom for one tiny VM.
Each step is timed and becomes perfdata."""

from __future__ import annotations

import argparse
import datetime as dt
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from probes.steps import CRITICAL, OK, WARNING, Step
from probes.target_opts import add_target_options, build_site, target_flags

if TYPE_CHECKING:
    from probes.auth import Login
    from probes.cli import Environment, ExitStatus
    from probes.site import Site

SERVICES = ("compute", "image", "network")
NAMES = {"keystone": "KEYSTONE", "api": "CLOUD_API"}


def _usage(name: str) -> Callable[[argparse.ArgumentParser, str], NoReturn]:
    def error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
        print(f"{NAMES[name]} UNKNOWN - invalid arguments: {message} "
              f"(see fedprobe {name} --help)")
        raise SystemExit(3)
    return error


def register(sub: Any) -> None:
    """Add the ``keystone`` and ``api`` subcommands."""
    helps = {"keystone": "Nagios plugin: Keystone login time, token lifetime, catalog, versions",
             "api": "Nagios plugin: quick read-only compute/image/network calls and quota"}
    for name, text in helps.items():
        p: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        add_target_options(p)
        p.add_argument("-t", "--timeout", type=float, default=30.0)
        p.add_argument("-w", "--warning", help="range for the total seconds")
        p.add_argument("-c", "--critical", help="range for the total seconds")
        p.add_argument("-v", "--verbose", action="count", default=0)
        if name == "keystone":
            p.add_argument("--service", action="append", metavar="TYPE",
                           help="service type the catalog must have (default: compute, "
                                "image, network; repeat; e.g. occi)")
            p.add_argument("--token-warning", type=float, default=600.0,
                           help="warn when the new token lives fewer seconds (600)")
        p.set_defaults(run=run_keystone if name == "keystone" else run_api)
        p.error = types.MethodType(_usage(name), p)  # type: ignore[method-assign]


def _start(args: argparse.Namespace, env: Environment, name: str
           ) -> tuple[Site, Login | None, list[Step]] | ExitStatus:
    """Build the site (bad input: UNKNOWN printed, its status returned) and log in, timed."""
    from probes.auth import AuthError, login
    from probes.cli import ExitStatus
    from probes.sources import SiteError

    try:
        site = build_site(args, env.environ, target_flags(args), need_image=False)
    except SiteError as exc:
        print(f"{NAMES[name]} UNKNOWN - {exc}", file=env.stdout)
        return ExitStatus.UNKNOWN
    start = time.monotonic()
    try:
        session = login(site, args.timeout)
    except AuthError as exc:
        return site, None, [Step("auth", CRITICAL, str(exc), time.monotonic() - start)]
    return site, session, [Step("auth", OK, session.method, time.monotonic() - start)]


def _finish(name: str, env: Environment, steps: list[Step], ok: str,
            args: argparse.Namespace) -> ExitStatus:
    from probes.cli import ExitStatus
    from probes.steps import render

    text, code = render(NAMES[name], steps, ok, args.verbose, args.warning, args.critical)
    env.stdout.write(text)
    return ExitStatus(code)


def run_keystone(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Login, token lifetime, catalog, version documents."""
    from keystoneauth1.exceptions import EndpointNotFound

    started = _start(args, env, "keystone")
    if not isinstance(started, tuple):
        return started
    site, sess, steps = started
    if sess is None:
        return _finish("keystone", env, steps, "", args)
    expires = dt.datetime.fromisoformat(sess.expires_at.replace("Z", "+00:00"))
    left = (expires - dt.datetime.now(dt.UTC)).total_seconds()
    steps.append(Step("token_lifetime", OK if left >= args.token_warning else WARNING,
                      f"token valid {int(left)}s"))
    catalog = sess.session.auth.get_access(sess.session).service_catalog  # type: ignore[union-attr]
    for service in args.service or SERVICES:
        try:
            url = catalog.url_for(service_type=service, interface=site.interface,
                                  region_name=site.region)
        except EndpointNotFound:
            url = None
        if not url:
            where = f" in region {site.region}" if site.region else ""
            steps.append(Step(f"catalog_{service}", CRITICAL,
                              f"no {site.interface} {service} endpoint in the catalog{where}"))
            continue
        start = time.monotonic()
        try:
            resp = sess.session.get(url, authenticated=False, raise_exc=False,
                                    timeout=args.timeout)
        except Exception as exc:
            steps.append(Step(f"version_{service}", CRITICAL, f"{url}: {type(exc).__name__}"))
            continue
        took = time.monotonic() - start
        ok = resp.status_code in (200, 300)
        steps.append(Step(f"version_{service}", OK if ok else CRITICAL,
                          f"{url} answered {resp.status_code}", took))
    return _finish("keystone", env, steps,
                   f"Keystone at {site.auth.auth_url}: {steps[0].detail} in "
                   f"{steps[0].seconds or 0:.2f}s, token valid {int(left)}s, "
                   f"{len(args.service or SERVICES)} services answer", args)


def run_api(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Flavors, images, networks, limits; quota headroom for the smallest flavor."""
    from probes.deadline import Deadline
    from probes.drivers.base import DriverError
    from probes.drivers.openstack import OpenStackDriver

    started = _start(args, env, "api")
    if not isinstance(started, tuple):
        return started
    site, sess, steps = started
    if sess is None:
        return _finish("api", env, steps, "", args)
    driver = OpenStackDriver(sess.session, site, Deadline(args.timeout))
    calls = [("flavors", driver.compute, "/flavors/detail", None),
             ("images", driver.image, "/v2/images", {"limit": 1}),
             ("networks", driver.network, "/v2.0/networks", {"limit": 1}),
             ("limits", driver.compute, "/limits", None)]
    found: dict[str, Any] = {}
    for name, api, path, params in calls:
        start = time.monotonic()
        try:
            resp = driver.call(api, "GET", path, ok=(200,), what=name, params=params)
        except DriverError as exc:
            steps.append(Step(name, CRITICAL, str(exc)))
            continue
        took = time.monotonic() - start
        found[name] = resp.json()
        steps.append(Step(name, OK, f"GET {path} answered 200", took))
    if "flavors" in found and "limits" in found:
        steps.append(_headroom(found["flavors"].get("flavors", []),
                               found["limits"]["limits"]["absolute"]))
    return _finish("api", env, steps, f"compute, image and network APIs answer at {site.name}"
                   + (f"; {steps[-1].detail}" if steps[-1].name == "quota" else ""), args)


def _headroom(flavors: list[dict[str, Any]], absolute: dict[str, int]) -> Step:
    if not flavors:
        return Step("quota", CRITICAL, "no flavors offered")
    tiny = min(flavors, key=lambda f: (f["vcpus"], f["ram"], f["disk"]))
    left = {"instances": absolute.get("maxTotalInstances", -1)
            - absolute.get("totalInstancesUsed", 0),
            "cores": absolute.get("maxTotalCores", -1) - absolute.get("totalCoresUsed", 0),
            "ram": absolute.get("maxTotalRAMSize", -1) - absolute.get("totalRAMUsed", 0)}
    need = {"instances": 1, "cores": tiny["vcpus"], "ram": tiny["ram"]}
    short = [k for k in need if 0 <= left[k] < need[k] or
             (left[k] < 0 and absolute.get({"instances": "maxTotalInstances",
                                            "cores": "maxTotalCores",
                                            "ram": "maxTotalRAMSize"}[k], -1) >= 0)]
    if short:
        return Step("quota", CRITICAL, f"no quota for one {tiny['name']}: "
                                       + ", ".join(f"{k} left {left[k]} < {need[k]}"
                                                   for k in short))
    return Step("quota", OK, f"room for a {tiny['name']} ({left['instances']} instances, "
                             f"{left['cores']} cores, {left['ram']} MiB left)")
