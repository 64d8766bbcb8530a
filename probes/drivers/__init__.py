"""Cloud drivers: everything that talks to a cloud API lives here, behind drivers.base. The
registry maps a site's ``driver`` to the factory of its driver; concrete drivers are imported
only when a site uses them, so nothing outside this package names one."""

from __future__ import annotations

import importlib
from collections.abc import Callable
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


def load(name: str) -> Callable[[Site], CloudDriver]:
    """The driver class of that name, its code loaded (ValueError for an unknown name; the
    import's own error when a package it needs is missing). The plugins load it with the
    site, before a run's clock starts and before any call to the cloud."""
    if name not in _DRIVERS:
        raise ValueError(unknown(name))
    module, cls = _DRIVERS[name]
    found: Callable[[Site], CloudDriver] = getattr(importlib.import_module(module), cls)
    return found


def create(site: Site) -> CloudDriver:
    """The driver of the site's kind, not yet connected (the runner's DriverFactory)."""
    return load(site.driver)(site)
