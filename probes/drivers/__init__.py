"""Cloud drivers: everything that talks to a cloud API lives here, behind drivers.base. The
registry maps a site's ``driver`` to the factory of its driver; concrete drivers are imported
only when a site uses them, so nothing outside this package names one."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from probes.config.site import Site
    from probes.drivers.base import CloudDriver

# site.driver -> (module, class); the class takes the site, and logs in on connect()
_DRIVERS = {"openstack": ("probes.drivers.openstack", "OpenStackDriver")}


def names() -> tuple[str, ...]:
    """The drivers a site may name."""
    return tuple(_DRIVERS)


def unknown(name: str) -> str:
    """The one line for a driver name nobody registered."""
    return f"driver {name!r} is not known: the drivers available are {', '.join(names())}"


def create(site: Site) -> CloudDriver:
    """The driver of the site's kind, not yet connected (the runner's DriverFactory)."""
    if site.driver not in _DRIVERS:
        raise ValueError(unknown(site.driver))
    module, cls = _DRIVERS[site.driver]
    driver: CloudDriver = getattr(importlib.import_module(module), cls)(site)
    return driver
