"""Keystone v3: version discovery, tokens (password, application credential, token), token
validation, federation (OIDC bearer tokens), the auth/projects and auth/catalog calls, and what
a user may read of itself: its user, projects, application credentials, the regions."""

from __future__ import annotations

from typing import Any

from probes.sandbox.api.errors import keystone_error
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.catalog import auth_url, catalog
from probes.sandbox.identity import AppCredRec, ProjectRec, TokenRec, UserRec
from probes.sandbox.timefmt import iso_z, keystone_time

_MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
_UPDATED = "2023-09-06T00:00:00Z"


def _version(base: str) -> dict[str, Any]:
    return {"id": "v3.14", "status": "stable", "updated": _UPDATED, "media-types": _MEDIA,
            "links": [{"rel": "self", "href": auth_url(base) + "/"}]}


@route("/identity", "GET", "identity", "versions", auth=False)
def versions(ctx: Ctx) -> Reply:
    """Multiple-choice version list, as Keystone answers at its root."""
    return Reply(300, {"versions": {"values": [_version(ctx.base_url)]}})


@route("/identity/v3", "GET", "identity", "versions", auth=False)
def version(ctx: Ctx) -> Reply:
    """The v3 version document."""
    return Reply(200, {"version": _version(ctx.base_url)})


def project_doc(ctx: Ctx, p: ProjectRec) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
            "enabled": True, "is_domain": False, "parent_id": p.domain_id, "tags": [],
            "links": {"self": f"{auth_url(ctx.base_url)}/projects/{p.id}"}, "options": {}}


def token_body(ctx: Ctx, rec: TokenRec, with_catalog: bool = True) -> dict[str, Any]:
    """The {"token": ...} document for a token record."""
    ident = ctx.cloud.identity
    user: dict[str, Any] = {"id": rec.user.id, "name": rec.user.name,
                            "domain": {"id": rec.user.domain_id,
                                       "name": ident.domains.get(rec.user.domain_id,
                                                                 rec.user.domain_id)},
                            "password_expires_at": None}
    if rec.user.federation is not None:
        user["OS-FEDERATION"] = rec.user.federation
    body: dict[str, Any] = {"methods": list(rec.methods), "user": user,
                            "audit_ids": [rec.audit_id],
                            "expires_at": keystone_time(rec.expires_at),
                            "issued_at": keystone_time(rec.issued_at)}
    if rec.project is not None:
        p = rec.project
        body["project"] = {"id": p.id, "name": p.name,
                           "domain": {"id": p.domain_id,
                                      "name": ident.domains.get(p.domain_id, p.domain_id)}}
        body["is_domain"] = False
        body["roles"] = [{"id": f"role-{r}", "name": r} for r in rec.user.roles]
        if with_catalog:
            body["catalog"] = catalog(ctx.base_url, ctx.cloud.config.region)
    if rec.app_cred is not None:
        body["application_credential"] = {"id": rec.app_cred.id, "name": rec.app_cred.name,
                                          "restricted": True}
    return {"token": body}


def _token_reply(ctx: Ctx, rec: TokenRec, status: int = 201) -> Reply:
    with_catalog = ctx.query("nocatalog") is None
    return Reply(status, token_body(ctx, rec, with_catalog), {"X-Subject-Token": rec.id})


def _method_body(identity: dict[str, Any], method: str) -> dict[str, Any]:
    """The object a method carries under its name ({} when absent); anything else is 400, as
    Keystone's request schema answers."""
    value = identity.get(method)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise keystone_error(400, f"Invalid input for field 'identity/{method}': {value!r} is "
                                  "not of type 'object'.")
    return value


def _authenticate(ctx: Ctx, auth: dict[str, Any]) -> TokenRec:
    ident = ctx.cloud.identity
    identity = auth.get("identity")
    if not isinstance(identity, dict) or not isinstance(identity.get("methods"), list):
        raise keystone_error(400, "Expecting to find identity in auth. The server could not "
                                  "comply with the request since it is either malformed or "
                                  "otherwise incorrect.")
    methods = tuple(str(m) for m in identity["methods"])
    scope = auth.get("scope")
    scope = scope if isinstance(scope, dict) else None
    if methods == ("password",):
        user_ref = _method_body(identity, "password").get("user")
        if not isinstance(user_ref, dict):
            raise keystone_error(400, "Expecting to find user in password.")
        user = ident.password_user(user_ref)
        return ident.issue(user, ident.resolve_project(user, scope), methods)
    if methods == ("application_credential",):
        cred: AppCredRec = ident.app_credential(_method_body(identity, "application_credential"))
        if scope:
            raise keystone_error(401, "Application credentials cannot request a scope.")
        app_user = ident.users[cred.user_id]
        return ident.issue(app_user, ident.projects[cred.project_id], methods, app_cred=cred)
    if methods == ("token",):
        old = ident.validate(str(_method_body(identity, "token").get("id", "")))
        if old is None:
            raise keystone_error(401, "The request you have made requires authentication.")
        if old.app_cred is not None:
            raise keystone_error(403, "Application credentials tokens cannot be rescoped.")
        project = ident.resolve_project(old.user, scope)
        return ident.issue(old.user, project, old.methods, audit_id=old.audit_id,
                           expires_at=old.expires_at)
    raise keystone_error(401, f"Attempted to authenticate with an unsupported method: "
                              f"{', '.join(methods) or '(none)'}.")


@route("/identity/v3/auth/tokens", "POST", "identity", "auth", auth=False)
def issue_token(ctx: Ctx) -> Reply:
    """POST /v3/auth/tokens: password, application_credential or token method."""
    auth = ctx.json_body().get("auth")
    if not isinstance(auth, dict):
        raise keystone_error(400, "Expecting to find auth in request body.")
    return _token_reply(ctx, _authenticate(ctx, auth))


def _subject(ctx: Ctx) -> TokenRec:
    rec = ctx.cloud.identity.validate(ctx.request.headers.get("X-Subject-Token"))
    if rec is None:
        raise keystone_error(404, "Could not find token: "
                                  f"{(ctx.request.headers.get('X-Subject-Token') or '')[:8]}...")
    return rec


@route("/identity/v3/auth/tokens", "GET,HEAD", "identity", "validate")
def validate_token(ctx: Ctx) -> Reply:
    """GET/HEAD /v3/auth/tokens: validate the X-Subject-Token."""
    rec = _subject(ctx)
    return Reply(200, token_body(ctx, rec, ctx.query("nocatalog") is None),
                 {"X-Subject-Token": rec.id})


@route("/identity/v3/auth/tokens", "DELETE", "identity", "validate")
def revoke_token(ctx: Ctx) -> Reply:
    """DELETE /v3/auth/tokens: revoke the X-Subject-Token."""
    rec = _subject(ctx)
    ctx.cloud.identity.revoke(rec.id)
    return Reply(204)


def _projects_of(ctx: Ctx, user: UserRec) -> list[dict[str, Any]]:
    projects = ctx.cloud.identity.projects
    return [project_doc(ctx, projects[pid]) for pid in sorted(user.project_ids)]


@route("/identity/v3/auth/projects", "GET", "identity", "projects")
def auth_projects(ctx: Ctx) -> Reply:
    """GET /v3/auth/projects: projects the token's user may scope to."""
    assert ctx.token is not None
    return Reply(200, {"projects": _projects_of(ctx, ctx.token.user),
                       "links": {"self": f"{auth_url(ctx.base_url)}/auth/projects",
                                 "previous": None, "next": None}})


@route("/identity/v3/OS-FEDERATION/projects", "GET", "identity", "projects")
def federation_projects(ctx: Ctx) -> Reply:
    """GET /v3/OS-FEDERATION/projects: the deprecated twin of /v3/auth/projects that Keystone
    still serves (older federated clients call it)."""
    assert ctx.token is not None
    return Reply(200, {"projects": _projects_of(ctx, ctx.token.user),
                       "links": {"self": f"{auth_url(ctx.base_url)}/OS-FEDERATION/projects",
                                 "previous": None, "next": None}})


@route("/identity/v3/projects", "GET", "identity", "projects")
def projects(ctx: Ctx) -> Reply:
    """GET /v3/projects: every project, for an admin only (policy identity:list_projects) —
    a user lists its own with /v3/auth/projects, as clients fall back to."""
    assert ctx.token is not None
    if "admin" not in ctx.token.user.roles:
        raise keystone_error(403, "You are not authorized to perform the requested action: "
                                  "identity:list_projects.")
    every = ctx.cloud.identity.projects
    return Reply(200, {"projects": [project_doc(ctx, every[p]) for p in sorted(every)],
                       "links": {"self": f"{auth_url(ctx.base_url)}/projects",
                                 "previous": None, "next": None}})


@route("/identity/v3/users/<user_id>/projects", "GET", "identity", "projects")
def user_projects(ctx: Ctx, user_id: str) -> Reply:
    """GET /v3/users/{id}/projects (only one's own, as for a non-admin)."""
    assert ctx.token is not None
    if user_id != ctx.token.user.id:
        raise keystone_error(403, "You are not authorized to perform the requested action: "
                                  "identity:list_user_projects.")
    return Reply(200, {"projects": _projects_of(ctx, ctx.token.user),
                       "links": {"self": f"{auth_url(ctx.base_url)}/users/{user_id}/projects",
                                 "previous": None, "next": None}})


@route("/identity/v3/auth/catalog", "GET", "identity", "catalog")
def auth_catalog(ctx: Ctx) -> Reply:
    """GET /v3/auth/catalog: the catalog of a scoped token."""
    assert ctx.token is not None
    if ctx.token.project is None:
        raise keystone_error(403, "A project-scoped token is required to produce a service "
                                  "catalog.")
    return Reply(200, {"catalog": catalog(ctx.base_url, ctx.cloud.config.region),
                       "links": {"self": f"{auth_url(ctx.base_url)}/auth/catalog"}})


@route("/identity/v3/OS-FEDERATION/identity_providers/<idp>/protocols/<protocol>/auth",
       "GET,POST", "identity", "auth", auth=False)
def federated_auth(ctx: Ctx, idp: str, protocol: str) -> Reply:
    """The federation endpoint: an OIDC access token as Bearer, or (X509 protocols) the TLS
    client certificate, gives an unscoped token."""
    x5 = ctx.cloud.config.identity.x509
    if idp == x5.identity_provider and protocol in x5.protocols:
        user = ctx.cloud.identity.x509_user(ctx.request.environ.get("SSL_CLIENT_CERT"),
                                            protocol)
        return _token_reply(ctx, ctx.cloud.identity.issue(user, None, (protocol,)))
    header = ctx.request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not bearer:
        bearer = ctx.request.environ.get("HTTP_OIDC_ACCESS_TOKEN", "")
    if not bearer:
        raise keystone_error(401, "The request you have made requires authentication.")
    user = ctx.cloud.identity.federated_user(idp, protocol, bearer)
    rec = ctx.cloud.identity.issue(user, None, (protocol,))
    return _token_reply(ctx, rec)


@route("/identity/v2.0", "GET", "identity", "versions", auth=False)
def version_v2(ctx: Ctx) -> Reply:
    """The deprecated v2.0 version document (keystone-voms clients still use it)."""
    return Reply(200, {"version": {"id": "v2.0", "status": "deprecated",
                                   "updated": "2014-04-17T00:00:00Z", "links": [
                                       {"rel": "self", "href": f"{ctx.base_url}/identity/v2.0/"}],
                                   "media-types": [{"base": "application/json",
                                                    "type": "application/vnd.openstack."
                                                            "identity-v2.0+json"}]}})


@route("/identity/v2.0/tokens", "POST", "identity", "auth", auth=False)
def issue_token_v2(ctx: Ctx) -> Reply:
    """The legacy keystone-voms path: {"auth": {"voms": true, "tenantName": T}} over TLS with
    the proxy as client certificate."""
    auth = ctx.json_body().get("auth")
    if not isinstance(auth, dict) or auth.get("voms") is not True:
        raise keystone_error(400, "Only VOMS authentication is offered on /v2.0/tokens.")
    ident = ctx.cloud.identity
    user = ident.x509_user(ctx.request.environ.get("SSL_CLIENT_CERT"), "voms")
    tenant = auth.get("tenantName") or auth.get("tenantId")
    project = next((p for p in ident.projects.values()
                    if tenant in (p.name, p.id) and p.id in user.project_ids), None)
    if project is None:
        raise keystone_error(401, f"Not authorized for tenant {tenant}.")
    rec = ident.issue(user, project, ("voms",))
    entries = [{"type": s["type"], "name": s["name"], "endpoints_links": [],
                "endpoints": [{"id": s["id"], "region": ctx.cloud.config.region,
                               **{f"{e['interface']}URL": e["url"] for e in s["endpoints"]}}]}
               for s in catalog(ctx.base_url, ctx.cloud.config.region)]
    return Reply(200, {"access": {
        "token": {"id": rec.id, "issued_at": keystone_time(rec.issued_at),
                  "expires": iso_z(rec.expires_at), "audit_ids": [rec.audit_id],
                  "tenant": {"id": project.id, "name": project.name, "enabled": True,
                             "description": project.description}},
        "serviceCatalog": entries,
        "user": {"id": user.id, "name": user.name, "username": user.name, "roles_links": [],
                 "roles": [{"name": r} for r in user.roles]},
        "metadata": {"is_admin": 0, "roles": []}}})


ROUTES = collect(globals())
