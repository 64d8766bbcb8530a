# Only .venv-clients has the (untyped) client libraries; mypy runs from the suite's venv too.
# mypy: disable-error-code="import-not-found,import-untyped"
"""What EGI's novaprobe does, with the client libraries it is built on (keystoneauth1's OIDC
access-token plugin, python-keystoneclient, -glanceclient, -novaclient, -neutronclient), against
any cloud: list projects, rescope, find an image, take the smallest flavor, boot a server with
metadata, poll it to ACTIVE, delete it and poll to 404.

Run with .venv-clients/bin/python, never imported by the suite (its libraries live only in that
venv). Reads one JSON object on stdin (the access token is a secret: never on the command line):
{"auth_url", "cacert", "identity_provider", "protocol", "access_token", "image_property":
[key, value], "timeout"}. Prints one JSON line of what it saw; exits 1 with a one-line error
(on stderr) when a step fails.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from glanceclient import client as glance_client
from keystoneauth1 import loading, session
from keystoneclient.v3 import client as keystone_client
from neutronclient.v2_0 import client as neutron_client
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc


def _session(cfg: dict[str, Any], auth: Any) -> session.Session:
    return session.Session(auth=auth, verify=cfg["cacert"] or True)


def login(cfg: dict[str, Any]) -> session.Session:
    """An unscoped federated session through the OIDC access-token plugin."""
    plugin: Any = loading.get_plugin_loader("v3oidcaccesstoken").load_from_options(
        auth_url=cfg["auth_url"], identity_provider=cfg["identity_provider"],
        protocol=cfg["protocol"], access_token=cfg["access_token"])
    return _session(cfg, plugin)


def rescope(cfg: dict[str, Any], unscoped: session.Session, project_id: str) -> session.Session:
    """A project-scoped session from the unscoped token, as the probe rescopes."""
    plugin: Any = loading.get_plugin_loader("v3token").load_from_options(
        auth_url=cfg["auth_url"], token=unscoped.get_token(), project_id=project_id)
    return _session(cfg, plugin)


def poll(fetch: Callable[[], str], done: Callable[[str], bool], timeout: float) -> list[str]:
    """Call fetch until done(result); the statuses seen, in order (fast polls, backed off)."""
    deadline, wait = time.monotonic() + timeout, 0.1
    seen: list[str] = []
    while True:
        result = fetch()
        if not seen or seen[-1] != result:
            seen.append(result)
        if done(result):
            return seen
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s; statuses seen: {seen}")
        time.sleep(wait)
        wait = min(wait * 1.5, 1.0)


def server_status(nova: Any, server_id: str) -> str:
    """The server's status, or "404" once Nova no longer knows it."""
    try:
        return str(nova.servers.get(server_id).status)
    except nova_exc.NotFound:
        return "404"


def projects(cfg: dict[str, Any], trail: list[str]) -> tuple[session.Session, dict[str, Any]]:
    """Log in, list the user's projects three ways, rescope to the first; the scoped session."""
    trail.append("login")
    unscoped = login(cfg)
    trail.append("list projects")
    keystone = keystone_client.Client(session=unscoped, interface="public")
    mine = sorted(keystone.auth.projects(), key=lambda p: p.name)  # GET /v3/auth/projects
    # the deprecated OS-FEDERATION twin, which keystoneclient no longer calls itself
    fed = unscoped.get(cfg["auth_url"].rstrip("/") + "/OS-FEDERATION/projects").json()
    own = keystone.projects.list(user=unscoped.get_user_id())  # GET /v3/users/{id}/projects
    trail.append("rescope")
    scoped = rescope(cfg, unscoped, mine[0].id)
    return scoped, {"auth_projects": [p.name for p in mine],
                    "federation_projects": sorted(p["name"] for p in fed["projects"]),
                    "user_projects": sorted(p.name for p in own),
                    "scoped_project": {"id": scoped.get_project_id(), "name": mine[0].name}}


def resources(cfg: dict[str, Any], scoped: session.Session, trail: list[str]) -> dict[str, Any]:
    """The image (by id, by property), the smallest flavor, the network to boot on."""
    trail.append("find image")
    glance = glance_client.Client("2", session=scoped)
    listed = list(glance.images.list())
    wanted = next(i for i in listed if i["name"].startswith("cirros"))
    by_id = glance.images.get(wanted["id"])
    key, value = cfg["image_property"]
    by_property = [i["id"] for i in glance.images.list(filters={key: value})]
    trail.append("smallest flavor")
    flavors = nova_client.Client("2.1", session=scoped).flavors.list()
    smallest = min(flavors, key=lambda f: (f.vcpus, f.ram, f.disk))
    trail.append("find network")
    neutron = neutron_client.Client(session=scoped)
    nets = neutron.list_networks(project_id=scoped.get_project_id())["networks"]
    network = nets[0] if nets else neutron.list_networks(shared=True)["networks"][0]
    return {"images_listed": sorted(i["name"] for i in listed),
            "image_by_id": {"id": by_id["id"], "name": by_id["name"]},
            "image_by_property": by_property,
            "flavor": {"id": smallest.id, "name": smallest.name, "vcpus": smallest.vcpus,
                       "ram": smallest.ram},
            "network": {"id": network["id"], "name": network["name"]}}


def lifecycle(cfg: dict[str, Any], scoped: session.Session, found: dict[str, Any],
              trail: list[str]) -> dict[str, Any]:
    """Boot a server with metadata, poll it to ACTIVE, delete it, poll to 404."""
    timeout = float(cfg.get("timeout", 30))
    nova = nova_client.Client("2.1", session=scoped)
    trail.append("create server")
    meta = {"fedprobe.host": "egi-probe", "org.egi.probe": "novaprobe"}
    server = nova.servers.create(name="egi-probe", image=found["image_by_id"]["id"],
                                 flavor=found["flavor"]["id"],
                                 nics=[{"net-id": found["network"]["id"]}], meta=meta)
    created = time.monotonic()
    trail.append("poll to ACTIVE")
    to_active = poll(lambda: server_status(nova, server.id), lambda s: s in ("ACTIVE", "ERROR"),
                     timeout)
    active_after = time.monotonic() - created
    shown = nova.servers.get(server.id)
    trail.append("delete")
    nova.servers.delete(server.id)
    trail.append("poll to 404")
    to_gone = poll(lambda: server_status(nova, server.id), lambda s: s == "404", timeout)
    return {"server": {"id": server.id, "metadata": dict(shown.metadata),
                       "networks": sorted(shown.networks)},
            "statuses_to_active": to_active, "statuses_to_gone": to_gone,
            "active_after_s": round(active_after, 3)}


def run(cfg: dict[str, Any], trail: list[str]) -> dict[str, Any]:
    """The probe's steps (each named in trail as it starts); what each saw."""
    scoped, seen = projects(cfg, trail)
    seen.update(resources(cfg, scoped, trail))
    seen.update(lifecycle(cfg, scoped, seen, trail))
    return seen


def main() -> int:
    """Read the config on stdin, print one JSON line."""
    trail: list[str] = ["read config"]
    try:
        print(json.dumps(run(json.load(sys.stdin), trail)), flush=True)
    except Exception as exc:  # the edge: any client error becomes one line for the test
        line = f"egi_probe: {trail[-1]}: {type(exc).__name__}: {exc}".splitlines()[0]
        print(line, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
