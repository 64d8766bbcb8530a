"""Nova fidelity: every compute response the sandbox gives is validated with Tempest's own
validator against Tempest's response schemas, at microversion 2.1 and at the sandbox's maximum.

Tempest keeps one module per microversion that changed a schema; for a microversion we use, for
each schema name, the newest module at or below it — the same choice Tempest's clients make.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
import requests
import tempest.lib.api_schema.response.compute as compute_schemas
from tempest.lib.common.rest_client import RestClient

from tests.conftest import Api

_VERSIONS = sorted(
    (int(m.name.split("_")[1]), m.name) for m in pkgutil.iter_modules(compute_schemas.__path__)
    if m.name.startswith("v2_"))


def schema(module: str, name: str, microversion: str) -> dict[str, Any]:
    """Tempest's schema ``name`` from ``<v2_x>.<module>`` for a microversion."""
    minor = int(microversion.split(".")[1])
    for number, package in reversed(_VERSIONS):
        if number > minor:
            continue
        try:
            mod = importlib.import_module(f"{compute_schemas.__name__}.{package}.{module}")
        except ModuleNotFoundError:
            continue
        if hasattr(mod, name):
            return dict(getattr(mod, name))
    raise LookupError(f"no Tempest schema {module}.{name} for {microversion}")


class _Resp(dict[str, str]):
    """What Tempest's validator reads of a response: .status and the headers as a mapping."""

    def __init__(self, resp: requests.Response) -> None:
        super().__init__({k.lower(): v for k, v in resp.headers.items()})
        self.status = resp.status_code


def validate(resp: requests.Response, module: str, name: str, microversion: str) -> None:
    """Tempest's RestClient.validate_response on a real sandbox response."""
    body = resp.json() if resp.content else ""
    RestClient.validate_response(schema(module, name, microversion), _Resp(resp), body)


@pytest.fixture(params=["2.1", "2.79"])
def mv_api(api: Api, request: pytest.FixtureRequest) -> Api:
    api.microversion = request.param
    return api


def test_server_lifecycle_responses_match_tempest(mv_api: Api) -> None:
    mv = mv_api.microversion
    resp = mv_api.create_server("schema-check", user_data="#!/bin/sh\necho hi\n",
                                metadata={"fedprobe.host": "h1"})
    validate(resp, "servers", "create_server_with_admin_pass", mv)
    sid = resp.json()["server"]["id"]
    building = mv_api.get(f"/compute/v2.1/servers/{sid}")
    validate(building, "servers", "get_server", mv)
    mv_api.wait_status(sid, "ACTIVE")
    validate(mv_api.get(f"/compute/v2.1/servers/{sid}"), "servers", "get_server", mv)
    validate(mv_api.get("/compute/v2.1/servers"), "servers", "list_servers", mv)
    validate(mv_api.get("/compute/v2.1/servers/detail"), "servers", "list_servers_detail", mv)
    validate(mv_api.get("/compute/v2.1/servers/detail", params={"limit": 1}),
             "servers", "list_servers_detail", mv)
    mv_api.wait_console(sid, "hi")
    validate(mv_api.console(sid, 10), "servers", "get_console_output", mv)
    validate(mv_api.put(f"/compute/v2.1/servers/{sid}", json={"server": {"name": "renamed"}}),
             "servers", "update_server", mv)
    validate(mv_api.get(f"/compute/v2.1/servers/{sid}/metadata"),
             "servers", "list_server_metadata", mv)
    validate(mv_api.post(f"/compute/v2.1/servers/{sid}/metadata",
                         json={"metadata": {"k": "v"}}), "servers", "update_server_metadata", mv)
    validate(mv_api.put(f"/compute/v2.1/servers/{sid}/metadata",
                        json={"metadata": {"k": "v"}}), "servers", "set_server_metadata", mv)
    validate(mv_api.get(f"/compute/v2.1/servers/{sid}/metadata/k"),
             "servers", "set_show_server_metadata_item", mv)
    validate(mv_api.put(f"/compute/v2.1/servers/{sid}/metadata/k",
                        json={"meta": {"k": "w"}}), "servers", "set_show_server_metadata_item", mv)
    validate(mv_api.delete(f"/compute/v2.1/servers/{sid}/metadata/k"),
             "servers", "delete_server_metadata_item", mv)
    validate(mv_api.delete(f"/compute/v2.1/servers/{sid}"), "servers", "delete_server", mv)
    mv_api.wait_gone(sid)


def test_error_server_matches_tempest(mv_api: Api) -> None:
    mv_api.sb.set_faults(boot_error="No valid host was found.")
    sid = mv_api.create_server("will-fail").json()["server"]["id"]
    mv_api.wait_status(sid, "ERROR")
    resp = mv_api.get(f"/compute/v2.1/servers/{sid}")
    validate(resp, "servers", "get_server", mv_api.microversion)
    assert resp.json()["server"]["fault"]["message"] == "No valid host was found."
    validate(mv_api.get("/compute/v2.1/servers/detail"), "servers", "list_servers_detail",
             mv_api.microversion)
    mv_api.delete(f"/compute/v2.1/servers/{sid}")
    mv_api.wait_gone(sid)


def test_tags_match_tempest(api: Api) -> None:
    mv = api.microversion = "2.79"
    sid = api.create_server("tagged", tags=["fedprobe"]).json()["server"]["id"]
    api.wait_status(sid, "ACTIVE")
    validate(api.get(f"/compute/v2.1/servers/{sid}/tags"), "servers", "list_tags", mv)
    validate(api.put(f"/compute/v2.1/servers/{sid}/tags", json={"tags": ["a", "b"]}),
             "servers", "update_all_tags", mv)
    validate(api.get(f"/compute/v2.1/servers/{sid}/tags/a"), "servers", "check_tag_existence",
             mv)
    validate(api.put(f"/compute/v2.1/servers/{sid}/tags/c"), "servers", "update_tag", mv)
    validate(api.delete(f"/compute/v2.1/servers/{sid}/tags/c"), "servers", "delete_tag", mv)
    validate(api.delete(f"/compute/v2.1/servers/{sid}/tags"), "servers", "delete_all_tags", mv)
    api.delete(f"/compute/v2.1/servers/{sid}")


def test_flavors_limits_versions_match_tempest(mv_api: Api) -> None:
    mv = mv_api.microversion
    validate(mv_api.get("/compute/v2.1/flavors"), "flavors", "list_flavors", mv)
    validate(mv_api.get("/compute/v2.1/flavors/detail"), "flavors", "list_flavors_details", mv)
    validate(mv_api.get("/compute/v2.1/flavors/1"), "flavors",
             "create_update_get_flavor_details", mv)
    validate(mv_api.get("/compute/v2.1/limits"), "limits", "get_limit", mv)
    validate(mv_api.get("/compute/"), "versions", "list_versions", mv)
    validate(mv_api.get("/compute/v2.1"), "versions", "get_one_version", mv)
