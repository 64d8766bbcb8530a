"""Keystone's read-only self-service calls the `openstack` CLI makes: one's own user and
projects (any, for an admin; 403 otherwise, as Keystone's policy answers), application
credentials (never their secret) and regions."""

from __future__ import annotations

from typing import Any

from probes.sandbox.api.errors import keystone_error
from probes.sandbox.api.keystone import project_doc
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.catalog import auth_url
from probes.sandbox.identity import AppCredRec, UserRec


def _self_or_admin(ctx: Ctx, user_id: str, action: str) -> UserRec:
    """The user asked about, if the token may see it: its own user, or any for an admin (a
    non-admin's other ids are 403 whether they exist or not, as Keystone's policy answers)."""
    assert ctx.token is not None
    if user_id == ctx.token.user.id:
        return ctx.token.user
    if "admin" not in ctx.token.user.roles:
        raise keystone_error(403, "You are not authorized to perform the requested action: "
                                  f"identity:{action}.")
    user = ctx.cloud.identity.users.get(user_id)
    if user is None:
        raise keystone_error(404, f"Could not find user: {user_id}.")
    return user


@route("/identity/v3/users/<user_id>", "GET", "identity", "users")
def user_show(ctx: Ctx, user_id: str) -> Reply:
    """GET /v3/users/{id}: one's own user (any, for an admin)."""
    user = _self_or_admin(ctx, user_id, "get_user")
    return Reply(200, {"user": {"id": user.id, "name": user.name, "domain_id": user.domain_id,
                                "enabled": True, "password_expires_at": None, "options": {},
                                "links": {"self": f"{auth_url(ctx.base_url)}/users/{user.id}"}}})


@route("/identity/v3/projects/<project_id>", "GET", "identity", "projects")
def project_show(ctx: Ctx, project_id: str) -> Reply:
    """GET /v3/projects/{id}: a project the user has a role on (any, for an admin)."""
    assert ctx.token is not None
    user = ctx.token.user
    if project_id not in user.project_ids and "admin" not in user.roles:
        raise keystone_error(403, "You are not authorized to perform the requested action: "
                                  "identity:get_project.")
    project = ctx.cloud.identity.projects.get(project_id)
    if project is None:
        raise keystone_error(404, f"Could not find project: {project_id}.")
    return Reply(200, {"project": project_doc(ctx, project)})


def _app_cred_doc(ctx: Ctx, cred: AppCredRec, user: UserRec) -> dict[str, Any]:
    """An application credential as Keystone shows it (never its secret)."""
    return {"id": cred.id, "name": cred.name, "description": None,
            "project_id": cred.project_id, "expires_at": None, "unrestricted": False,
            "system": None, "access_rules": [],
            "roles": [{"id": f"role-{r}", "name": r, "domain_id": None} for r in user.roles],
            "links": {"self": f"{auth_url(ctx.base_url)}/users/{user.id}/"
                              f"application_credentials/{cred.id}"}}


@route("/identity/v3/users/<user_id>/application_credentials", "GET", "identity", "users")
def app_creds(ctx: Ctx, user_id: str) -> Reply:
    """GET /v3/users/{id}/application_credentials (``name`` filter)."""
    user = _self_or_admin(ctx, user_id, "list_application_credentials")
    name = ctx.query("name")
    found = [_app_cred_doc(ctx, c, user) for c in ctx.cloud.identity.app_creds.values()
             if c.user_id == user.id and name in (None, c.name)]
    return Reply(200, {"application_credentials": found, "links": {
        "self": f"{auth_url(ctx.base_url)}/users/{user.id}/application_credentials",
        "previous": None, "next": None}})


@route("/identity/v3/users/<user_id>/application_credentials/<cred_id>", "GET", "identity",
       "users")
def app_cred_show(ctx: Ctx, user_id: str, cred_id: str) -> Reply:
    """GET /v3/users/{id}/application_credentials/{id}."""
    user = _self_or_admin(ctx, user_id, "get_application_credential")
    cred = ctx.cloud.identity.app_creds.get(cred_id)
    if cred is None or cred.user_id != user.id:
        raise keystone_error(404, f"Could not find application credential: {cred_id}.")
    return Reply(200, {"application_credential": _app_cred_doc(ctx, cred, user)})


def _region_doc(ctx: Ctx) -> dict[str, Any]:
    region = ctx.cloud.config.region
    return {"id": region, "description": "", "parent_region_id": None,
            "links": {"self": f"{auth_url(ctx.base_url)}/regions/{region}"}}


@route("/identity/v3/regions", "GET", "identity", "catalog")
def regions(ctx: Ctx) -> Reply:
    """GET /v3/regions: any user may list them (policy identity:list_regions is open)."""
    return Reply(200, {"regions": [_region_doc(ctx)], "links": {
        "self": f"{auth_url(ctx.base_url)}/regions", "previous": None, "next": None}})


@route("/identity/v3/regions/<region_id>", "GET", "identity", "catalog")
def region_show(ctx: Ctx, region_id: str) -> Reply:
    """GET /v3/regions/{id}."""
    if region_id != ctx.cloud.config.region:
        raise keystone_error(404, f"Could not find region: {region_id}.")
    return Reply(200, {"region": _region_doc(ctx)})


ROUTES = collect(globals())
