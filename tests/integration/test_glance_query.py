"""Glance's image-list query in the sandbox, as Glance's API reference says (issue 18): the
schemas python-glanceclient fetches before any image call (and every image document valid
against them, as glanceclient's warlock models check), the ``in:`` operator, ``id``,
``size_min``/``size_max``, ``protected``, ``os_hidden``, ``member_status`` and ``sort`` — real
filters, where before each was taken for a custom property and silently answered []."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests

from probes.sandbox import Sandbox
from tests.conftest import Api, make_config

IMAGES = "/image/v2/images"


@pytest.fixture(scope="module")
def glance() -> Iterator[Api]:
    images = [
        {"name": "alpha", "size": 100, "min_disk": 1, "properties": {"os_distro": "cirros"}},
        {"name": "beta", "size": 2000, "protected": True},
        {"name": "gamma", "size": 30_000, "visibility": "shared"},
        {"name": "delta", "size": 400, "os_hidden": True},
        {"name": "with,comma", "size": 5},
    ]
    sb = Sandbox(make_config(images=images)).start()
    try:
        yield Api(sb)
    finally:
        sb.stop()


def names(api: Api, **params: Any) -> list[str]:
    resp = api.get(IMAGES, params=params)
    assert resp.status_code == 200, (params, resp.text)
    return [i["name"] for i in resp.json()["images"]]


def refused(api: Api, **params: Any) -> str:
    resp = api.get(IMAGES, params=params)
    assert resp.status_code == 400, (params, resp.status_code, resp.text)
    return resp.text


def test_the_schemas_glanceclient_reads(glance: Api) -> None:
    image = glance.get("/image/v2/schemas/image")
    listing = glance.get("/image/v2/schemas/images")
    assert image.status_code == listing.status_code == 200
    schema = image.json()
    assert schema["name"] == "image" and schema["additionalProperties"] == {"type": "string"}
    assert {link["rel"] for link in schema["links"]} == {"self", "enclosure", "describedby"}
    assert listing.json()["properties"]["images"]["items"] == schema
    body = glance.get(IMAGES, params={"os_hidden": "true"}).json()
    body_all = glance.get(IMAGES).json()
    for doc in [*body["images"], *body_all["images"]]:  # as warlock validates each image
        jsonschema.validate(doc, schema)
    jsonschema.validate(body_all, listing.json())
    assert requests.get(glance.base + "/image/v2/schemas/image", timeout=10,
                        verify=glance.verify).status_code == 401  # a token, as in Glance


def test_the_in_operator_and_id(glance: Api) -> None:
    assert sorted(names(glance, name="in:alpha,beta")) == ["alpha", "beta"]
    assert names(glance, name='in:"with,comma",nothing') == ["with,comma"]
    ids = {i["name"]: i["id"] for i in glance.get(IMAGES).json()["images"]}
    assert names(glance, id=ids["beta"]) == ["beta"]
    assert sorted(names(glance, id=f"in:{ids['alpha']},{ids['gamma']}")) == ["alpha", "gamma"]
    assert sorted(names(glance, status="in:active,queued")) == sorted(ids)
    assert names(glance, disk_format="in:raw,iso") == []


def test_sizes_and_protected(glance: Api) -> None:
    assert sorted(names(glance, size_min=100, size_max=2000)) == ["alpha", "beta"]
    assert names(glance, size_min=10_000) == ["gamma"]
    assert names(glance, protected="true") == ["beta"]
    assert "beta" not in names(glance, protected="false")
    assert "size_min param must be an integer" in refused(glance, size_min="big")
    assert "must be true or false" in refused(glance, protected="maybe")


def test_hidden_images_only_when_asked(glance: Api) -> None:
    assert "delta" not in names(glance)
    assert names(glance, os_hidden="true") == ["delta"]
    assert "delta" not in names(glance, os_hidden="false")


def test_member_status(glance: Api) -> None:
    assert "gamma" in names(glance)  # accepted (the default) shows shared images
    assert "gamma" in names(glance, member_status="all")
    assert "gamma" not in names(glance, member_status="pending")
    assert "alpha" in names(glance, member_status="pending")  # not shared: not filtered
    assert "Invalid status value" in refused(glance, member_status="maybe")


def test_sort(glance: Api) -> None:
    assert names(glance, sort="name:asc") == ["alpha", "beta", "gamma", "with,comma"]
    assert names(glance, sort="size:desc") == ["gamma", "beta", "alpha", "with,comma"]
    assert names(glance, sort_key="size", sort_dir="asc") == ["with,comma", "alpha", "beta",
                                                              "gamma"]
    assert "Invalid sort key" in refused(glance, sort="colour:asc")
    assert "Invalid sort direction" in refused(glance, sort="name:up")
    assert "not supported with" in refused(glance, sort="name", sort_key="size")
    # pages follow the order asked for
    first = glance.get(IMAGES, params={"sort": "name:asc", "limit": 2}).json()
    assert [i["name"] for i in first["images"]] == ["alpha", "beta"]
    rest = glance.get("/image" + first["next"]).json()
    assert [i["name"] for i in rest["images"]] == ["gamma", "with,comma"]


def test_custom_properties_still_filter(glance: Api) -> None:
    assert names(glance, os_distro="cirros") == ["alpha"]
    assert names(glance, os_distro="ubuntu") == []
    assert "does not model the tag filter" in refused(glance, tag="x")
