"""The OpenStack driver's read-only API probe (the api check): flavors, images, networks and
limits, each timed, and the quota headroom for one VM of the smallest flavor."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from probes.checks.steps import CRITICAL, OK, Step
from probes.drivers.answer import answer, count, obj, objects, text
from probes.drivers.base import DriverError

if TYPE_CHECKING:
    from probes.deadline import Deadline
    from probes.drivers.openstack import OpenStackDriver


def probe(driver: OpenStackDriver, deadline: Deadline) -> list[Step]:
    """The calls' steps, then the quota's when flavors and limits answered."""
    calls = [("flavors", driver.compute, "/flavors/detail", None),
             ("images", driver.image, "/v2/images", {"limit": 1}),
             ("networks", driver.network, "/v2.0/networks", {"limit": 1}),
             ("limits", driver.compute, "/limits", None)]
    steps, found = [], {}
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
    return steps


def headroom(flavor_doc: dict[str, Any], limits_doc: dict[str, Any]) -> Step:
    """Whether the project's quota leaves room for one VM of the smallest flavor (the answers
    of /flavors/detail and /limits; read inside answer(): a malformed one raises)."""
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
