"""The service catalog and the endpoint layout of the sandbox (devstack-like paths)."""

from __future__ import annotations

from typing import Any

from probes.sandbox.ids import stable_hex

# service type -> (name, path under the base URL as it appears in the catalog)
SERVICES: dict[str, tuple[str, str]] = {
    "identity": ("keystone", "/identity"),
    "compute": ("nova", "/compute/v2.1"),
    "image": ("glance", "/image"),
    "network": ("neutron", "/networking"),
}

INTERFACES = ("public", "internal", "admin")


def auth_url(base_url: str) -> str:
    """The Keystone v3 URL clients authenticate against."""
    return f"{base_url}/identity/v3"


def catalog(base_url: str, region: str) -> list[dict[str, Any]]:
    """The v3 catalog for a base URL such as http://127.0.0.1:5000."""
    entries = []
    for stype, (name, path) in SERVICES.items():
        endpoints = [
            {"id": stable_hex("endpoint", f"{stype}:{iface}"), "interface": iface,
             "region": region, "region_id": region, "url": base_url + path}
            for iface in INTERFACES
        ]
        entries.append({"id": stable_hex("service", stype), "type": stype, "name": name,
                        "endpoints": endpoints})
    return entries
