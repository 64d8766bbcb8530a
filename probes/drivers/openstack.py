"""The OpenStack driver: Nova, Glance and Neutron through keystoneauth1 Adapters found in the
catalog, one pinned compute microversion, and as few calls as the job needs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests
from keystoneauth1 import adapter, session
from keystoneauth1 import exceptions as ks_exc

from probes.config.site import Site
from probes.deadline import Deadline, DeadlineExceeded
from probes.drivers.base import (
    Choice,
    Discovery,
    DriverError,
    Forbidden,
    NotFound,
    OwnServer,
    ServerSpec,
    ServerState,
    ServerStatus,
)

# 2.37: networks required (with "auto"/"none"); old enough for every supported release.
COMPUTE_MICROVERSION = "2.37"
CONSOLE_LINES = 1000
REQUEST_TIMEOUT = 30.0
NAME_PREFIX = "fedprobe-"
MAX_PAGES = 100  # of a server list (100 000 servers at Nova's default max_limit)

_STATES = {"BUILD": ServerState.BUILDING, "ACTIVE": ServerState.ACTIVE,
           "ERROR": ServerState.ERROR, "DELETED": ServerState.DELETING,
           "SOFT_DELETED": ServerState.DELETING}


def _message(resp: requests.Response) -> str:
    """The service's own error message, whatever its shape."""
    try:
        body = resp.json()
    except ValueError:
        text = " ".join(resp.text.split())
        return text[:200] or resp.reason
    if isinstance(body, dict) and body:
        inner = next(iter(body.values()))
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])[:200]
    return str(body)[:200]


class OpenStackDriver:
    """Talks to one OpenStack site for the lifecycle runner."""

    name = "openstack"

    def __init__(self, sess: session.Session, site: Site, deadline: Deadline) -> None:
        self.site = site
        self.deadline = deadline
        common: dict[str, Any] = {"session": sess, "interface": site.interface,
                                  "region_name": site.region, "raise_exc": False}
        self.compute = adapter.Adapter(service_type="compute",
                                       default_microversion=COMPUTE_MICROVERSION, **common)
        self.image = adapter.Adapter(service_type="image", **common)
        self.network = adapter.Adapter(service_type="network", **common)

    # -- plumbing --------------------------------------------------------------------------------
    def call(self, api: adapter.Adapter, method: str, path: str, *, ok: tuple[int, ...],
              what: str, **kw: Any) -> requests.Response:
        """One request; the response when its status is in ``ok``, else a typed DriverError.
        Nothing is sent once the deadline has passed or was cancelled (a signal)."""
        if self.deadline.left() <= 0:
            raise DeadlineExceeded(self.deadline.why())
        try:
            timeout = max(0.5, min(REQUEST_TIMEOUT, self.deadline.left()))
            resp = api.request(path, method, timeout=timeout, **kw)
        except ks_exc.EndpointNotFound:
            raise DriverError(f"{what}: no {api.service_type} endpoint in the catalog"
                              + (f" for region {self.site.region}" if self.site.region else "")
                              ) from None
        except ks_exc.SSLError as exc:  # a certificate problem does not pass by retrying
            raise DriverError(f"{what}: {type(exc).__name__}: {exc}"[:300]) from None
        except (ks_exc.ConnectionError, requests.RequestException) as exc:
            raise DriverError(f"{what}: {type(exc).__name__}: {exc}"[:300],
                              transient=True, maybe_done=True) from None
        except ks_exc.ClientException as exc:
            raise DriverError(f"{what}: {type(exc).__name__}: {exc}"[:300]) from None
        if resp.status_code in ok:
            return resp
        message = f"{what}: HTTP {resp.status_code}: {_message(resp)}"
        if resp.status_code == 404:
            raise NotFound(message)
        if resp.status_code == 403:
            raise Forbidden(message)
        code = resp.status_code
        raise DriverError(message, transient=code >= 500 or code == 429,
                          maybe_done=code in (500, 502, 504))

    # -- discovery -------------------------------------------------------------------------------
    def _image(self) -> tuple[Choice, dict[str, Any]]:
        want = self.site.image
        if want is None:
            raise NotFound("no image chosen for this site")
        if want.id:
            try:
                img = self.call(self.image, "GET", f"/v2/images/{want.id}", ok=(200,),
                                 what="image").json()
            except NotFound:
                raise NotFound(f"image id {want.id} not found") from None
            return Choice(img["id"], img.get("name") or img["id"]), img
        params = {"status": "active", **({"name": want.name} if want.name else want.property)}
        found = self.call(self.image, "GET", "/v2/images", ok=(200,), what="image list",
                           params=params).json().get("images", [])
        if not found:
            names = [i.get("name", i["id"]) for i in self.call(
                self.image, "GET", "/v2/images", ok=(200,), what="image list",
                params={"status": "active"}).json().get("images", [])]
            wanted = f"name {want.name}" if want.name else \
                "property " + ", ".join(f"{k}={v}" for k, v in want.property.items())
            raise NotFound(f"no active image with {wanted}", names)
        img = sorted(found, key=lambda i: i.get("created_at", ""))[-1]
        return Choice(img["id"], img.get("name") or img["id"]), img

    def _flavor(self, image: dict[str, Any]) -> Choice:
        min_disk, min_ram = int(image.get("min_disk") or 0), int(image.get("min_ram") or 0)
        flavors = self.call(self.compute, "GET", "/flavors/detail", ok=(200,),
                             what="flavor list").json().get("flavors", [])
        names = tuple(sorted(f["name"] for f in flavors))
        if self.site.flavor:
            match = [f for f in flavors if self.site.flavor in (f["name"], f["id"])]
            if not match:
                raise NotFound(f"flavor {self.site.flavor} not found", names)
            f = match[0]
        else:
            fits = [f for f in flavors if f["ram"] >= min_ram and
                    (f["disk"] >= min_disk or f["disk"] == 0)]
            if not fits:
                raise NotFound(f"no flavor fits the image (min_disk {min_disk} GiB, min_ram "
                               f"{min_ram} MiB)", names)
            f = min(fits, key=lambda x: (x["vcpus"], x["ram"], x["disk"], x["name"]))
        return Choice(f["id"], f["name"], f"{f['vcpus']} vCPU, {f['ram']} MiB, {f['disk']} GiB",
                      names)

    def _network(self, project_id: str) -> Choice | None:
        params = {"name": self.site.network} if self.site.network else {"status": "ACTIVE"}
        nets = self.call(self.network, "GET", "/v2.0/networks", ok=(200,),
                          what="network list", params=params).json().get("networks", [])
        if self.site.network:
            if not nets:
                every = self.call(self.network, "GET", "/v2.0/networks", ok=(200,),
                                   what="network list").json().get("networks", [])
                raise NotFound(f"network {self.site.network} not found",
                               sorted(n["name"] for n in every))
            return Choice(nets[0]["id"], nets[0]["name"])
        usable = [n for n in nets if n.get("subnets") and not n.get("router:external")]
        own = [n for n in usable if n.get("project_id", n.get("tenant_id")) == project_id]
        shared = [n for n in usable if n.get("shared")]
        pick = (own or shared or [None])[0]
        if pick is None:
            return None
        return Choice(pick["id"], pick["name"], "own" if own else "shared",
                      tuple(sorted(n["name"] for n in nets)))

    def discover(self, project_id: str = "") -> Discovery:
        """Image, smallest fitting flavor, network (None means Nova's "auto")."""
        image, doc = self._image()
        image = Choice(image.id, image.name,
                       f"min_disk {doc.get('min_disk', 0)} GiB, min_ram {doc.get('min_ram', 0)}"
                       " MiB")
        return Discovery(image, self._flavor(doc), self._network(project_id))

    # -- server life -----------------------------------------------------------------------------
    def create(self, spec: ServerSpec) -> str:
        """POST /servers; the id once Nova accepted it."""
        server: dict[str, Any] = {"name": spec.name, "imageRef": spec.image_id,
                                  "flavorRef": spec.flavor_id, "user_data": spec.user_data,
                                  "metadata": spec.metadata,
                                  "networks": [{"uuid": spec.network_id}]
                                  if spec.network_id else "auto"}
        resp = self.call(self.compute, "POST", "/servers", ok=(202,), what="create",
                          json={"server": server})
        return str(resp.json()["server"]["id"])

    def status(self, server_id: str) -> ServerStatus:
        """GET /servers/{id} (404 -> GONE)."""
        try:
            doc = self.call(self.compute, "GET", f"/servers/{server_id}", ok=(200,),
                             what="server").json()["server"]
        except NotFound:
            return ServerStatus(ServerState.GONE, "404")
        raw = str(doc.get("status", "?"))
        state = _STATES.get(raw, ServerState.BUILDING)
        if doc.get("OS-EXT-STS:task_state") == "deleting":
            state = ServerState.DELETING
        addrs = tuple((int(a["version"]), str(a["addr"]))
                      for net in (doc.get("addresses") or {}).values() for a in net)
        fault = (doc.get("fault") or {}).get("message", "")
        return ServerStatus(state, raw, str(fault), addrs, dict(doc.get("metadata") or {}))

    def console(self, server_id: str) -> str:
        """os-getConsoleOutput, the last lines (Forbidden when policy says no)."""
        resp = self.call(self.compute, "POST", f"/servers/{server_id}/action", ok=(200,),
                          what="console output",
                          json={"os-getConsoleOutput": {"length": CONSOLE_LINES}})
        return str(resp.json().get("output") or "")

    def delete(self, server_id: str) -> None:
        """DELETE /servers/{id}; already gone is fine."""
        try:
            self.call(self.compute, "DELETE", f"/servers/{server_id}", ok=(204, 202),
                       what="delete")
        except NotFound:
            return

    def list_own(self, metadata: dict[str, str]) -> list[OwnServer]:
        """Servers named like ours whose metadata has every given key/value: every page (Nova
        caps a list at its max_limit, 1000 by default, and links the next page)."""
        servers: list[dict[str, Any]] = []
        params: dict[str, str] | None = {"name": f"^{NAME_PREFIX}"}
        path = "/servers/detail"
        for _ in range(MAX_PAGES):
            doc = self.call(self.compute, "GET", path, ok=(200,), what="server list",
                            params=params).json()
            servers += doc.get("servers", [])
            nxt = next((link.get("href") for link in doc.get("servers_links") or []
                        if link.get("rel") == "next"), None)
            if not nxt or not doc.get("servers"):
                break
            path, params = _relative(nxt, self.compute), None
        else:
            raise DriverError(f"server list: more than {MAX_PAGES} pages")
        own = []
        for s in servers:
            meta = dict(s.get("metadata") or {})
            if all(meta.get(k) == v for k, v in metadata.items()):
                created = dt.datetime.fromisoformat(str(s["created"]).replace("Z", "+00:00"))
                own.append(OwnServer(s["id"], s["name"], created.timestamp(), meta))
        return own



def _relative(href: str, api: adapter.Adapter) -> str:
    """A next link as a path under the compute endpoint (links may name another host name for
    the same endpoint behind a proxy; only path and query are followed)."""
    from urllib.parse import urlsplit

    parts = urlsplit(href)
    base = urlsplit(api.get_endpoint() or "").path.rstrip("/")
    path = parts.path[len(base):] if base and parts.path.startswith(base) else parts.path
    return path + (f"?{parts.query}" if parts.query else "")
