"""Keystone's state: domains, projects, users, application credentials, federation and tokens.

Authentication decisions live here; api/keystone.py only parses requests and renders answers.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from probes.sandbox.api.errors import ApiError, keystone_error
from probes.sandbox.clientcert import identify
from probes.sandbox.config import Identity
from probes.sandbox.ids import stable_hex


@dataclass(frozen=True)
class ProjectRec:
    id: str
    name: str
    domain_id: str
    description: str = ""


@dataclass(frozen=True)
class UserRec:
    id: str
    name: str
    domain_id: str
    password: str
    project_ids: frozenset[str]
    roles: tuple[str, ...]
    federation: dict[str, Any] | None = None


@dataclass(frozen=True)
class AppCredRec:
    id: str
    name: str
    secret: str
    user_id: str
    project_id: str


@dataclass(frozen=True)
class TokenRec:
    """An issued token. ``valid_until`` is when the sandbox stops honouring it (fault injection
    can make that earlier than the ``expires_at`` it announced)."""

    id: str = field(repr=False)
    user: UserRec
    project: ProjectRec | None
    methods: tuple[str, ...]
    issued_at: float
    expires_at: float
    valid_until: float
    audit_id: str
    app_cred: AppCredRec | None = None


def _unauthorized() -> ApiError:
    return keystone_error(401, "The request you have made requires authentication.")


class IdentityStore:
    """Users, projects and tokens, thread-safe."""

    def __init__(self, cfg: Identity) -> None:
        self._cfg = cfg
        self._lock = threading.Lock()
        self.domains = {d["id"]: d["name"] for d in cfg.domains}
        self.projects: dict[str, ProjectRec] = {}
        for p in cfg.projects:
            pid = p.id or stable_hex("project", p.name)
            self.projects[pid] = ProjectRec(pid, p.name, p.domain, p.description)
        self.users: dict[str, UserRec] = {}
        for u in cfg.users:
            uid = u.id or stable_hex("user", u.name)
            pids = frozenset(self.project_by_name(n).id for n in u.projects)
            self.users[uid] = UserRec(uid, u.name, u.domain, u.password, pids, tuple(u.roles))
        self.app_creds = {
            a.id: AppCredRec(a.id, a.name, a.secret, self.user_by_name(a.user).id,
                             self.project_by_name(a.project).id)
            for a in cfg.application_credentials
        }
        self._tokens: dict[str, TokenRec] = {}
        self.token_valid_for: float | None = None

    # -- lookups ---------------------------------------------------------------------------
    def project_by_name(self, name: str, domain_id: str | None = None) -> ProjectRec:
        """The project with that name (KeyError naming it when there is none)."""
        for p in self.projects.values():
            if p.name == name and (domain_id is None or p.domain_id == domain_id):
                return p
        raise KeyError(f"project {name!r}")

    def user_by_name(self, name: str, domain_id: str | None = None) -> UserRec:
        """The user with that name (KeyError naming it when there is none)."""
        for u in self.users.values():
            if u.name == name and (domain_id is None or u.domain_id == domain_id):
                return u
        raise KeyError(f"user {name!r}")

    def domain_id(self, ref: dict[str, object] | None) -> str | None:
        """Resolve a {"id"} or {"name"} domain reference."""
        if not ref:
            return None
        if "id" in ref:
            return str(ref["id"])
        for did, dname in self.domains.items():
            if dname == ref.get("name"):
                return did
        return "<unknown-domain>"

    # -- authentication ----------------------------------------------------------------------
    def password_user(self, ref: dict[str, object]) -> UserRec:
        """Check a password method's user reference and password."""
        user: UserRec | None = None
        if "id" in ref:
            user = self.users.get(str(ref["id"]))
        elif "name" in ref:
            domain = ref.get("domain")
            if not isinstance(domain, dict):
                raise keystone_error(400, "Expecting to find domain in user. The server could "
                                          "not comply with the request since it is either "
                                          "malformed or otherwise incorrect.")
            try:
                user = self.user_by_name(str(ref["name"]), self.domain_id(domain))
            except KeyError:
                user = None
        password = str(ref.get("password", ""))
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            raise _unauthorized()
        return user

    def app_credential(self, ref: dict[str, object]) -> AppCredRec:
        """Check an application_credential method's id/name and secret."""
        cred = self.app_creds.get(str(ref.get("id", "")))
        if cred is None and "name" in ref:
            cred = next((c for c in self.app_creds.values() if c.name == ref["name"]), None)
        secret = str(ref.get("secret", ""))
        if cred is None or not hmac.compare_digest(cred.secret.encode(), secret.encode()):
            raise _unauthorized()
        return cred

    def federated_user(self, idp_id: str, protocol: str, bearer: str) -> UserRec:
        """Map an OIDC access token presented at the federation endpoint to a (shadow) user."""
        idp = next((i for i in self._cfg.identity_providers if i.id == idp_id), None)
        if idp is None:
            raise keystone_error(404, f"Could not find Identity Provider: {idp_id}.")
        if protocol not in idp.protocols:
            raise keystone_error(404, f"Could not find federated protocol {protocol} for "
                                      f"Identity Provider: {idp_id}.")
        entry = next((t for t in idp.tokens
                      if hmac.compare_digest(t.token.encode(), bearer.encode())), None)
        if entry is None:
            raise _unauthorized()
        pids = frozenset(self.project_by_name(n).id for n in entry.projects)
        uid = stable_hex("federated-user", f"{idp_id}:{entry.user}")
        fed: dict[str, Any] = {"identity_provider": {"id": idp_id}, "protocol": {"id": protocol},
               "groups": [{"id": stable_hex("group", g)} for g in entry.groups]}
        return UserRec(uid, entry.user, "Federated", "", pids, ("member", "reader"), fed)

    def x509_user(self, pem: str | None, protocol: str) -> UserRec:
        """Map a verified client certificate's VOMS FQANs to a (shadow) user with roles on the
        mapped projects; no certificate, or no mapped VO, is 401."""
        if not pem:
            raise keystone_error(401, "No client certificate was presented.")
        try:
            who = identify(pem)
        except ValueError:
            raise keystone_error(401, "The client certificate cannot be read.") from None
        x5 = self._cfg.x509
        pids = frozenset(self.project_by_name(m.project).id for m in x5.mappings
                         if m.vo in who.vos)
        if not pids:
            raise keystone_error(401, f"No mapping for the VOs of {who.dn}: "
                                      f"{', '.join(who.vos) or 'none'}.")
        fed = {"identity_provider": {"id": x5.identity_provider}, "protocol": {"id": protocol},
               "groups": []}
        return UserRec(stable_hex("x509-user", who.dn), who.dn, "Federated", "", pids,
                       ("member", "reader"), fed)

    def resolve_project(self, user: UserRec, scope: dict[str, object] | None) -> ProjectRec | None:
        """The project a request scopes to, if the user has a role on it (else 401)."""
        if not scope or "project" not in scope:
            if scope and ("domain" in scope or "system" in scope):
                raise _unauthorized()
            return None
        ref = scope["project"]
        if not isinstance(ref, dict):
            raise keystone_error(400, "Invalid scope: project must be an object.")
        project: ProjectRec | None = None
        if "id" in ref:
            project = self.projects.get(str(ref["id"]))
        elif "name" in ref:
            try:
                domain = ref.get("domain")
                project = self.project_by_name(str(ref["name"]),
                                               self.domain_id(domain if isinstance(domain, dict)
                                                              else None))
            except KeyError:
                project = None
        if project is None or project.id not in user.project_ids:
            raise _unauthorized()
        return project

    # -- tokens ------------------------------------------------------------------------------
    def issue(self, user: UserRec, project: ProjectRec | None, methods: tuple[str, ...],
              app_cred: AppCredRec | None = None, audit_id: str | None = None,
              expires_at: float | None = None) -> TokenRec:
        """Issue a token (a rescoped token keeps its original expiry, like Keystone)."""
        now = time.time()
        expires = expires_at if expires_at is not None else now + self._cfg.token_lifetime
        valid_until = expires
        if self.token_valid_for is not None:
            valid_until = min(expires, now + self.token_valid_for)
        rec = TokenRec(secrets.token_urlsafe(32), user, project, methods, now, expires,
                       valid_until, audit_id or secrets.token_urlsafe(16)[:22], app_cred)
        with self._lock:
            self._purge(now)
            self._tokens[rec.id] = rec
        return rec

    def validate(self, token_id: str | None) -> TokenRec | None:
        """The live token with that id, or None (unknown, expired or cut short)."""
        if not token_id:
            return None
        with self._lock:
            rec = self._tokens.get(token_id)
        if rec is None or time.time() >= rec.valid_until:
            return None
        return rec

    def revoke(self, token_id: str) -> bool:
        """Revoke a token (DELETE /v3/auth/tokens)."""
        with self._lock:
            return self._tokens.pop(token_id, None) is not None

    def _purge(self, now: float) -> None:
        if len(self._tokens) < 10_000:
            return
        for tid in [t for t, r in self._tokens.items() if r.valid_until <= now]:
            del self._tokens[tid]
