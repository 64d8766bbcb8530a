"""Cloud drivers: everything that talks to a cloud API lives here, behind drivers.base. The
registry maps a site's ``driver`` to the factory of its driver; concrete drivers are imported
only when a site uses them, so nothing outside this package names one."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from probes.auth.keystone import Login
    from probes.config.site import Site
    from probes.deadline import Deadline
    from probes.drivers.base import CloudDriver

# site.driver -> (module, class); the class takes (session, site, deadline)
_DRIVERS = {"openstack": ("probes.drivers.openstack", "OpenStackDriver")}


def names() -> tuple[str, ...]:
    """The drivers a site may name."""
    return tuple(_DRIVERS)


def create(login: Login, site: Site, deadline: Deadline) -> CloudDriver:
    """The driver of the site's kind, on the logged-in session (the runner's DriverFactory)."""
    module, cls = _DRIVERS[site.driver]
    driver: CloudDriver = getattr(importlib.import_module(module), cls)(
        login.session, site, deadline)
    return driver
