"""The federations' profiles: which checks block joining and which only warn. Written down for
site admins in docs/selftest.md (keep the two together)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    version: int
    blocking: frozenset[str]      # a FAIL here: NOT READY
    recommended: frozenset[str]   # a FAIL here counts as a warning
    identity_provider: str | None = None   # the login the federation uses (None: any)
    protocol: str | None = None

    def level(self, check: str) -> str:
        """blocking, recommended or informational."""
        return ("blocking" if check in self.blocking else
                "recommended" if check in self.recommended else "informational")

    @property
    def label(self) -> str:
        return f"profile {self.name} v{self.version}"


_APIS = frozenset({"auth", "catalog", "versions", "flavor", "image"})
_LIFECYCLE = frozenset({"lifecycle", "context"})
PROFILES = {p.name: p for p in (
    # EGI FedCloud: OIDC through Check-in (egi.eu, openid), the OpenStack APIs, IPv4, the VM
    # lifecycle and contextualisation block; IPv6, MJF and image hygiene are recommended.
    Profile("egi-fedcloud", 1, _APIS | _LIFECYCLE | {"federated_login", "ipv4"},
            frozenset({"ipv6", "mjf", "hygiene", "metadata", "console", "quota",
                       "token_lifetime", "leftovers", "clock_skew"}), "egi.eu", "openid"),
    # Any OpenStack cloud: its own login, the APIs, the lifecycle, IPv4.
    Profile("openstack", 1, _APIS | _LIFECYCLE | {"ipv4"},
            frozenset({"ipv6", "metadata", "console", "quota", "token_lifetime", "hygiene",
                       "leftovers", "clock_skew"})),
    # WLCG clouds: MJF is what pilots read, so it blocks; IPv6 is recommended.
    Profile("wlcg", 1, _APIS | _LIFECYCLE | {"ipv4", "mjf"},
            frozenset({"ipv6", "metadata", "console", "quota", "token_lifetime", "hygiene",
                       "leftovers", "clock_skew"})),
)}
