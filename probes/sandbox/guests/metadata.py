"""The metadata service a namespace guest sees at http://169.254.169.254/: OpenStack's
``openstack/latest`` documents, a few EC2-style keys, and the machine/job features (MJF) over HTTP.

The documents are built once when the guest starts and served read-only from memory by a stdlib
HTTP server on a socket that lives in the guest's namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from probes.sandbox.guests.base import GuestAddress, GuestSpec
from probes.sandbox.inventory import ZONE

METADATA_ADDR = "169.254.169.254"
MJF_MACHINE_URL = f"http://{METADATA_ADDR}/mjf/machine"
MJF_JOB_URL = f"http://{METADATA_ADDR}/mjf/job"


def mjf_metadata() -> dict[str, str]:
    """The metadata keys through which a guest finds its MJF (as Vac/Vcycle set them)."""
    return {"machinefeatures": MJF_MACHINE_URL, "jobfeatures": MJF_JOB_URL}


def _network_data(addresses: tuple[GuestAddress, ...], gateways: dict[int, str],
                  prefixes: dict[int, int], metadata_via: str | None = None) -> dict[str, Any]:
    mac = addresses[0].mac if addresses else ""
    links = [{"id": "tap0", "type": "ovs", "ethernet_mac_address": mac, "mtu": 1450}]
    networks = []
    for i, a in enumerate(addresses):
        kind = "ipv4" if a.version == 4 else "ipv6"
        # Nova writes the netmask in full (255.255.255.128, ffff:ffff:ffff:ffff::).
        netmask = ipaddress.ip_interface(f"{a.addr}/{prefixes[a.version]}").netmask
        routes = [{"network": "0.0.0.0" if a.version == 4 else "::",
                   "netmask": "0.0.0.0" if a.version == 4 else "::",
                   "gateway": gateways[a.version]}]
        if a.version == 4 and metadata_via:
            # Neutron's isolated-metadata host route: 169.254.169.254 through the port that
            # serves it on this network (not through the router, which would be the host)
            routes.append({"network": METADATA_ADDR, "netmask": "255.255.255.255",
                           "gateway": metadata_via})
        networks.append({"id": f"network{i}", "link": "tap0", "type": kind,
                         "ip_address": a.addr, "netmask": str(netmask), "routes": routes,
                         "network_id": a.network})
    return {"links": links, "networks": networks, "services": []}


def documents(spec: GuestSpec, addresses: tuple[GuestAddress, ...], gateways: dict[int, str],
              prefixes: dict[int, int], metadata_via: str | None = None) -> dict[str, bytes]:
    """Path -> body for everything the metadata service answers."""
    meta = {**spec.metadata, **mjf_metadata()}
    meta_data = {"uuid": spec.server_id, "name": spec.name, "hostname": spec.hostname,
                 "project_id": spec.project_id, "availability_zone": ZONE,
                 "launch_index": 0, "public_keys": dict(spec.public_keys), "meta": meta,
                 "devices": []}
    docs: dict[str, bytes] = {
        "/openstack/": b"latest\n",
        # Nova lists user_data only when the server has some.
        "/openstack/latest/": b"meta_data.json\nnetwork_data.json\n"
                              + (b"user_data\n" if spec.user_data is not None else b""),
        "/openstack/latest/meta_data.json": json.dumps(meta_data).encode(),
        "/openstack/latest/network_data.json":
            json.dumps(_network_data(addresses, gateways, prefixes, metadata_via)).encode(),
        "/latest/meta-data/": b"instance-id\nhostname\nlocal-ipv4\n",
        "/latest/meta-data/instance-id": spec.server_id.encode(),
        "/latest/meta-data/hostname": spec.hostname.encode(),
        "/latest/meta-data/local-ipv4":
            next((a.addr for a in addresses if a.version == 4), "").encode(),
    }
    if spec.user_data is not None:
        docs["/openstack/latest/user_data"] = spec.user_data
    for kind, values in (("machine", spec.mjf_machine), ("job", spec.mjf_job)):
        docs[f"/mjf/{kind}/"] = "".join(k + "\n" for k in sorted(values)).encode()
        for key, value in values.items():
            docs[f"/mjf/{kind}/{key}"] = (value + "\n").encode()
    return docs


class _Handler(BaseHTTPRequestHandler):
    server: MetadataServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        docs = self.server.documents_for(self.client_address[0])
        body = docs.get(path)
        if body is None and not path.endswith("/"):
            body = docs.get(path + "/")
        status = 200 if body is not None else 404
        body = body if body is not None else b"404 Not Found\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if path.endswith(".json")
                         else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """The guest's metadata requests are not the sandbox's log."""


class MetadataServer(ThreadingHTTPServer):
    """Serves fixed documents on an already-listening socket (made inside the namespace)."""

    daemon_threads = True

    def __init__(self, sock: socket.socket, docs: dict[str, bytes]) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.documents = docs
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="guest-metadata", daemon=True)
        self._thread.start()

    def documents_for(self, client: str) -> dict[str, bytes]:
        """The documents this client sees (one guest per namespace: all of them)."""
        return self.documents

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.server_close()
