"""Images, flavors and networks: the read-only inventory the sandbox offers, with resolved ids."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from probes.sandbox.config import Flavor, Image, SandboxConfig
from probes.sandbox.identity import IdentityStore
from probes.sandbox.ids import stable_hex, stable_uuid

ZONE = "nova"  # the one availability zone: of servers, networks, metadata, os-availability-zone


@dataclass(frozen=True)
class ImageRec:
    id: str
    spec: Image
    owner: str
    created: float


@dataclass(frozen=True)
class FlavorRec:
    id: str
    spec: Flavor


@dataclass(frozen=True)
class SubnetRec:
    id: str
    name: str
    network_id: str
    cidr: str
    ip_version: int
    gateway_ip: str
    project_id: str


@dataclass(frozen=True)
class NetworkRec:
    id: str
    name: str
    project_id: str
    shared: bool
    external: bool
    status: str
    subnets: tuple[SubnetRec, ...]

    def usable_by(self, project_id: str) -> bool:
        """Whether a project may see (and boot on) this network."""
        return self.shared or self.project_id == project_id


class Inventory:
    """Lookup tables built once from the config."""

    def __init__(self, cfg: SandboxConfig, identity: IdentityStore) -> None:
        created = time.time()
        admin_project = stable_hex("project", "admin")
        self.images = {}
        for img in cfg.images:
            iid = img.id or stable_uuid("image", img.name)
            self.images[iid] = ImageRec(iid, img, admin_project, created)
        self.flavors = {}
        for fl in cfg.flavors:
            fid = fl.id or stable_uuid("flavor", fl.name)
            self.flavors[fid] = FlavorRec(fid, fl)
        self.networks: dict[str, NetworkRec] = {}
        for net in cfg.networks:
            nid = net.id or stable_uuid("network", net.name)
            owner = identity.project_by_name(net.project).id if net.project else admin_project
            subnets = []
            for i, sub in enumerate(net.subnets):
                cidr = ipaddress.ip_network(sub.cidr)
                gateway = sub.gateway_ip or str(next(cidr.hosts()))
                subnets.append(SubnetRec(stable_uuid("subnet", f"{net.name}:{sub.cidr}"),
                                         sub.name or f"{net.name}-subnet-{i}", nid, sub.cidr,
                                         cidr.version, gateway, owner))
            self.networks[nid] = NetworkRec(nid, net.name, owner, net.shared, net.external,
                                            net.status, tuple(subnets))

    def image_visible(self, image: ImageRec, project_id: str) -> bool:
        """Public/community/shared images are visible to all; private ones to the owner."""
        return image.spec.visibility != "private" or image.owner == project_id

    def subnets(self) -> list[SubnetRec]:
        """Every subnet of every network."""
        return [s for n in self.networks.values() for s in n.subnets]
