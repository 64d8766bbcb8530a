"""Removing what a killed sandbox left behind (SIGKILL: no cleanup ran) — its bridge, its guests'
veths and namespaces — without touching anything a live sandbox owns."""

from __future__ import annotations

import contextlib
import os
import time

from probes.sandbox.guests import netlink

# Every sandbox bridge carries this alias with its owner's pid: a bridge whose pid is gone is
# an orphan, one whose pid runs belongs to a live sandbox and is never touched.
ALIAS = "fedprobe-sandbox"
NETNS_PREFIX = "fpsb-"
VETH_PREFIX = "fpv"
# A namespace with nothing in it may be one a live sandbox is just plumbing (made, veth not yet
# moved in): only that old is it surely abandoned.
_EMPTY_NETNS_GRACE = 60.0


def bridge_alias() -> str:
    """The alias that marks a bridge as this process's."""
    return f"{ALIAS} pid={os.getpid()}"


def veth_of(netns: str) -> str:
    """The host-side veth name of a guest namespace (both carry the same 8 hex digits)."""
    return VETH_PREFIX + netns.removeprefix(NETNS_PREFIX)


def _orphaned(alias: str) -> bool:
    if not alias.startswith(ALIAS + " pid="):
        return False
    pid = alias.rsplit("=", 1)[1]
    return not (pid.isdigit() and os.path.exists(f"/proc/{pid}"))


def _age(netns: str) -> float:
    try:
        return time.time() - os.stat(f"/run/netns/{netns}").st_mtime
    except OSError:
        return 0.0


def reap_stale() -> list[str]:
    """Remove orphaned bridges with their veths, and fpsb- namespaces left empty; return names."""
    removed: list[str] = []
    try:
        links = netlink.links()
    except netlink.IpError:
        return removed
    for link in links:
        if not _orphaned(str(link.get("ifalias", ""))):
            continue
        name = str(link["ifname"])
        for port in links:
            if port.get("master") == name:
                with contextlib.suppress(netlink.IpError):
                    netlink.ip("link", "del", str(port["ifname"]))
                    removed.append(str(port["ifname"]))
        with contextlib.suppress(netlink.IpError):
            netlink.ip("link", "del", name)
            removed.append(name)
    with contextlib.suppress(netlink.IpError):
        for ns in netlink.ip("netns", "list").split():
            if not ns.startswith(NETNS_PREFIX) or netlink.ip("netns", "pids", ns).strip():
                continue
            # Deleting its veth just now emptied it, or it has been empty for long.
            if veth_of(ns) not in removed and _age(ns) < _EMPTY_NETNS_GRACE:
                continue
            if all(lk.get("ifname") == "lo" for lk in netlink.links(ns)):
                netlink.ip("netns", "del", ns)
                removed.append(ns)
    return removed
