"""The OpenStack driver: Nova, Glance and Neutron through keystoneauth1 Adapters found in the
catalog, one pinned compute microversion, and as few calls as the job needs."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from keystoneauth1 import adapter, session
from keystoneauth1 import exceptions as ks_exc

from probes.auth.keystone import AuthError, Login, login
from probes.config.site import OpenStackSite
from probes.deadline import Deadline, DeadlineExceeded
from probes.drivers.answer import MALFORMED, answer, count, obj, objects, text
from probes.drivers.base import (
    TAG_HOST,
    TAG_RUN,
    Choice,
    Discovery,
    DriverError,
    Forbidden,
    Identity,
    LoginRefused,
    NotFound,
    OwnServer,
    ServerSpec,
    ServerState,
    ServerStatus,
)

if TYPE_CHECKING:
    from probes.checks.steps import Step

Authenticate = Callable[[OpenStackSite, float], Login]  # (site, timeout) -> a scoped session

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

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


_FAMILY_RANK = {"IPv4 and IPv6": 0, "IPv4 only": 1, "IPv6 only": 2}


def _family(versions: set[int]) -> str:
    """A network's address families, in words."""
    if {4, 6} <= versions:
        return "IPv4 and IPv6"
    return "IPv4 only" if 4 in versions else "IPv6 only" if 6 in versions else "no subnet seen"


def _flavors(doc: Any) -> list[dict[str, Any]]:
    """The flavors of a /flavors/detail answer, each with a string id and name and whole
    numbers for vcpus, ram and disk."""
    flavors = objects(obj(doc).get("flavors", []))
    for f in flavors:
        text(f["id"]), text(f["name"])
        for key in ("vcpus", "ram", "disk"):
            f[key] = count(f[key])
    return flavors


def _status(doc: dict[str, Any]) -> ServerStatus:
    """A server document as the runner sees it."""
    raw = str(doc.get("status", "?"))
    state = _STATES.get(raw, ServerState.BUILDING)
    if doc.get("OS-EXT-STS:task_state") == "deleting":
        state = ServerState.DELETING
    addrs = tuple((int(a["version"]), text(a["addr"]))
                  for net in obj(doc.get("addresses") or {}).values()
                  for a in objects(net))
    fault = obj(doc.get("fault") or {}).get("message", "")
    metadata = {str(k): str(v) for k, v in obj(doc.get("metadata") or {}).items()}
    return ServerStatus(state, raw, str(fault), addrs, metadata, _when(doc.get("created")),
                        _when(doc.get("OS-SRV-USG:launched_at")))


def _unix(value: str) -> float:
    """A Nova timestamp ("2026-12-04T10:00:00Z", or launched_at's "2026-12-04T10:00:03.000000",
    UTC without a zone: Nova says UTC, a naive time is read as such) as Unix seconds
    (ValueError when it is not a time)."""
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _when(value: Any) -> float | None:
    """_unix, or None when absent or not a time (it is evidence the runner may use, not
    something the run depends on)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _unix(value)
    except ValueError:
        return None


class OpenStackDriver:
    """Talks to one OpenStack site for the lifecycle runner: Keystone login (keystoneauth1),
    then Nova, Glance and Neutron on that session."""

    name = "openstack"
    capabilities = frozenset({"console", "metadata", "ipv6", "tags", "report_channel", "api"})

    def __init__(self, site: OpenStackSite, authenticate: Authenticate | None = None) -> None:
        self.site = site
        self._authenticate = authenticate
        self.login: Login | None = None

    def connect(self, deadline: Deadline) -> Identity:
        """Log in with Keystone and scope to the site's project (LoginRefused with why)."""
        try:
            self.attach((self._authenticate or login)(
                self.site, max(0.5, min(30.0, deadline.left()))))
        except AuthError as exc:
            raise LoginRefused(str(exc)) from None
        assert self.login is not None
        return Identity(self.login.method, "project", self.login.project_id, self.login.user_id,
                        self.login.expires_at,
                        f"{self.site.auth.auth_url}#{self.login.project_id}")

    def attach(self, login: Login) -> None:
        """Use a session logged in already (the fast checks log in themselves)."""
        self.login = login
        sess: session.Session = login.session
        common: dict[str, Any] = {"session": sess, "interface": self.site.interface,
                                  "region_name": self.site.region, "raise_exc": False}
        self.compute = adapter.Adapter(service_type="compute",
                                       default_microversion=COMPUTE_MICROVERSION, **common)
        self.image = adapter.Adapter(service_type="image", **common)
        self.network = adapter.Adapter(service_type="network", **common)

    def probe_api(self, deadline: Deadline) -> list[Step]:
        """Flavors, images, networks, limits, then the quota headroom (openstack_api)."""
        from probes.drivers import openstack_api

        return openstack_api.probe(self, deadline)

    # -- plumbing --------------------------------------------------------------------------------
    def call(self, api: adapter.Adapter, method: str, path: str, deadline: Deadline, *,
             ok: tuple[int, ...], what: str, **kw: Any) -> requests.Response:
        """One request; the response when its status is in ``ok``, else a typed DriverError.
        Nothing is sent once the deadline has passed or was cancelled (a signal)."""
        if deadline.left() <= 0:
            raise DeadlineExceeded(deadline.why())
        try:
            timeout = max(0.5, min(REQUEST_TIMEOUT, deadline.left()))
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
        except MALFORMED as exc:  # keystoneauth reads the token's catalog only now
            raise DriverError(f"{what}: the catalog in Keystone's token is malformed "
                              f"({type(exc).__name__}: {exc})"[:300]) from None
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
    def _image(self, deadline: Deadline) -> tuple[Choice, dict[str, Any]]:
        want = self.site.image
        if want is None:
            raise NotFound("no image chosen for this site")
        if want.id:
            try:
                resp = self.call(self.image, "GET", f"/v2/images/{want.id}", deadline, ok=(200,),
                                 what="image")
            except NotFound:
                raise NotFound(f"image id {want.id} not found") from None
            with answer("image"):
                img = obj(resp.json())
                return Choice(text(img["id"]), text(img.get("name") or img["id"])), img
        params = {"status": "active", **({"name": want.name} if want.name else want.property)}
        found = self._images(params, deadline)
        if not found:
            names = [i.get("name") or i["id"] for i in self._images({"status": "active"}, deadline)]
            wanted = f"name {want.name}" if want.name else \
                "property " + ", ".join(f"{k}={v}" for k, v in want.property.items())
            raise NotFound(f"no active image with {wanted}", names)
        img = sorted(found, key=lambda i: str(i.get("created_at", "")))[-1]
        return Choice(img["id"], img.get("name") or img["id"]), img

    def _images(self, params: dict[str, str], deadline: Deadline) -> list[dict[str, Any]]:
        resp = self.call(self.image, "GET", "/v2/images", deadline, ok=(200,), what="image list",
                         params=params)
        with answer("image list"):
            images = objects(obj(resp.json()).get("images", []))
            for i in images:
                text(i["id"]), text(i.get("name") or i["id"])
            return images

    def _flavor(self, image: dict[str, Any], deadline: Deadline) -> Choice:
        with answer("image"):
            min_disk, min_ram = count(image.get("min_disk")), count(image.get("min_ram"))
        resp = self.call(self.compute, "GET", "/flavors/detail", deadline, ok=(200,),
                         what="flavor list")
        with answer("flavor list"):
            flavors = _flavors(resp.json())
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

    def _networks(self, params: dict[str, str] | None,
                  deadline: Deadline) -> list[dict[str, Any]]:
        resp = self.call(self.network, "GET", "/v2.0/networks", deadline, ok=(200,),
                         what="network list", params=params)
        with answer("network list"):
            nets = objects(obj(resp.json()).get("networks", []))
            for n in nets:
                text(n["id"]), text(n["name"])
            return nets

    def _network(self, project_id: str, deadline: Deadline) -> Choice | None:
        if self.site.network and _UUID.fullmatch(self.site.network):
            # a network id is what the create takes: nothing to look up (Nova refuses an
            # unknown one, and the create phase says so)
            return Choice(self.site.network, self.site.network, "given by id")
        params = {"name": self.site.network} if self.site.network else {"status": "ACTIVE"}
        nets = self._networks(params, deadline)
        if self.site.network:
            if not nets:
                every = self._networks(None, deadline)
                raise NotFound(f"network {self.site.network} not found",
                               sorted(n["name"] for n in every))
            return Choice(nets[0]["id"], nets[0]["name"])
        usable = [n for n in nets if n.get("subnets") and not n.get("router:external")]
        own = [n for n in usable if n.get("project_id", n.get("tenant_id")) == project_id]
        shared = [n for n in usable if n.get("shared") and n not in own]
        candidates = own + shared
        if not candidates:
            return None
        families = (self._families([n["id"] for n in candidates], deadline)
                    if len(candidates) > 1 else {})
        ranked = sorted(candidates, key=lambda n: (_FAMILY_RANK.get(
            _family(families.get(n["id"], set())), 3), n not in own, n["name"]))
        pick = ranked[0]
        whose = "own" if pick in own else "shared"
        if len(candidates) == 1:
            why = f"{whose}, the only usable network"
        else:
            others = ", ".join(f"{n['name']} ({_family(families.get(n['id'], set()))})"
                               for n in ranked[1:])
            why = (f"{whose}, {_family(families.get(pick['id'], set()))}: preferred over "
                   f"{others} (both IPv4 and IPv6 first, then IPv4 only; own before shared)")
        return Choice(pick["id"], pick["name"], why, tuple(sorted(n["name"] for n in nets)))

    def _families(self, network_ids: list[str], deadline: Deadline) -> dict[str, set[int]]:
        """Which IP versions each network's subnets have (one subnet list)."""
        resp = self.call(self.network, "GET", "/v2.0/subnets", deadline, ok=(200,),
                         what="subnet list")
        found: dict[str, set[int]] = {n: set() for n in network_ids}
        with answer("subnet list"):
            for sub in objects(obj(resp.json()).get("subnets", [])):
                if sub.get("network_id") in found:
                    found[sub["network_id"]].add(count(sub["ip_version"]))
        return found

    def discover(self, deadline: Deadline) -> Discovery:
        """Image, smallest fitting flavor, network (None means Nova's "auto")."""
        assert self.login is not None, "connect() first"
        image, doc = self._image(deadline)
        # reads min_disk and min_ram (a malformed one is named there)
        flavor = self._flavor(doc, deadline)
        image = Choice(image.id, image.name,
                       f"min_disk {doc.get('min_disk', 0)} GiB, min_ram {doc.get('min_ram', 0)}"
                       " MiB")
        return Discovery(image, flavor, self._network(self.login.project_id, deadline))

    # -- server life -----------------------------------------------------------------------------
    def create(self, spec: ServerSpec, deadline: Deadline) -> str:
        """POST /servers (named from the host and run tags, the tags as metadata, the
        user-data base64 as Nova wants it); the id once Nova accepted it."""
        name = f"{NAME_PREFIX}{spec.tags[TAG_HOST][:32]}-{spec.tags[TAG_RUN]}"
        server: dict[str, Any] = {"name": name, "imageRef": spec.image_id,
                                  "flavorRef": spec.flavor_id,
                                  "user_data": base64.b64encode(spec.user_data.encode()).decode(),
                                  "metadata": spec.tags,
                                  "networks": [{"uuid": spec.network_id}]
                                  if spec.network_id else "auto"}
        resp = self.call(self.compute, "POST", "/servers", deadline, ok=(202,), what="create",
                          json={"server": server})
        with answer("create", maybe_done=True):  # accepted, but which server: look for it
            return text(obj(obj(resp.json())["server"])["id"])

    def status(self, server_id: str, deadline: Deadline) -> ServerStatus:
        """GET /servers/{id} (404 -> GONE)."""
        try:
            resp = self.call(self.compute, "GET", f"/servers/{server_id}", deadline, ok=(200,),
                             what="server")
        except NotFound:
            return ServerStatus(ServerState.GONE, "404")
        with answer("server"):
            return _status(obj(obj(resp.json())["server"]))

    def report(self, server_id: str, deadline: Deadline) -> str | None:
        """The console log: os-getConsoleOutput, the last lines (Forbidden when policy says
        no)."""
        resp = self.call(self.compute, "POST", f"/servers/{server_id}/action", deadline, ok=(200,),
                          what="console output",
                          json={"os-getConsoleOutput": {"length": CONSOLE_LINES}})
        with answer("console output"):
            output = obj(resp.json()).get("output") or ""
            return output if isinstance(output, str) else text(output)

    def delete(self, server_id: str, deadline: Deadline) -> None:
        """DELETE /servers/{id}; already gone is fine."""
        try:
            self.call(self.compute, "DELETE", f"/servers/{server_id}", deadline, ok=(204, 202),
                       what="delete")
        except NotFound:
            return

    def list_own(self, tags: dict[str, str], deadline: Deadline) -> list[OwnServer]:
        """Servers named like ours whose metadata has every given tag: every page (Nova
        caps a list at its max_limit, 1000 by default, and links the next page)."""
        servers: list[dict[str, Any]] = []
        params: dict[str, str] | None = {"name": f"^{NAME_PREFIX}"}
        path = "/servers/detail"
        for _ in range(MAX_PAGES):
            resp = self.call(self.compute, "GET", path, deadline, ok=(200,), what="server list",
                             params=params)
            with answer("server list"):
                doc = obj(resp.json())
                page = objects(doc.get("servers", []))
                servers += page
                nxt = next((text(link.get("href")) for link in
                            objects(doc.get("servers_links") or [])
                            if link.get("rel") == "next"), None)
            if not nxt or not page:
                break
            path, params = _relative(nxt, self.compute), None
        else:
            raise DriverError(f"server list: more than {MAX_PAGES} pages")
        own = []
        with answer("server list"):
            for s in servers:
                meta = {str(k): str(v) for k, v in obj(s.get("metadata") or {}).items()}
                if all(meta.get(k) == v for k, v in tags.items()):
                    own.append(OwnServer(text(s["id"]), text(s["name"]),
                                         _unix(text(s["created"])), meta))
        return own


def _relative(href: str, api: adapter.Adapter) -> str:
    """A next link as a path under the compute endpoint (links may name another host name for
    the same endpoint behind a proxy; only path and query are followed)."""
    from urllib.parse import urlsplit

    parts = urlsplit(href)
    base = urlsplit(api.get_endpoint() or "").path.rstrip("/")
    path = parts.path[len(base):] if base and parts.path.startswith(base) else parts.path
    return path + (f"?{parts.query}" if parts.query else "")
