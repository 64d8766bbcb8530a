"""Glance v2's JSON schemas of an image and of the image list, as Glance serves them at
/v2/schemas/image(s): python-glanceclient fetches them before any image call and validates every
image it reads against them (custom properties must be strings: additionalProperties)."""

from __future__ import annotations

from typing import Any

_STATUSES = ["queued", "saving", "active", "killed", "deleted", "uploading", "importing",
             "pending_delete", "deactivated"]
_CONTAINER = [None, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
_DISK = [None, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]


def _text(max_length: int, nullable: bool = True, **extra: Any) -> dict[str, Any]:
    return {"type": ["null", "string"] if nullable else "string", "maxLength": max_length,
            **extra}


def image_schema() -> dict[str, Any]:
    """The schema of one image."""
    read_only = {"readOnly": True}
    return {
        "name": "image",
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-"
                   "([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$",
                   "description": "An identifier for the image"},
            "name": _text(255, description="Descriptive name for the image"),
            "status": {"type": "string", "enum": _STATUSES, **read_only},
            "visibility": {"type": "string",
                           "enum": ["community", "public", "private", "shared"]},
            "protected": {"type": "boolean"},
            "os_hidden": {"type": "boolean"},
            "checksum": _text(32, **read_only),
            "os_hash_algo": _text(64, **read_only),
            "os_hash_value": _text(128, **read_only),
            "owner": _text(255),
            "size": {"type": ["null", "integer"], **read_only},
            "virtual_size": {"type": ["null", "integer"], **read_only},
            "container_format": {"type": ["null", "string"], "enum": _CONTAINER},
            "disk_format": {"type": ["null", "string"], "enum": _DISK},
            "created_at": {"type": "string", **read_only},
            "updated_at": {"type": "string", **read_only},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "direct_url": {"type": "string", **read_only},
            "min_ram": {"type": "integer"},
            "min_disk": {"type": "integer"},
            "self": {"type": "string", **read_only},
            "file": {"type": "string", **read_only},
            "stores": {"type": "string", **read_only},
            "schema": {"type": "string", **read_only},
            "locations": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def images_schema() -> dict[str, Any]:
    """The schema of the image list."""
    return {
        "name": "images",
        "properties": {"images": {"type": "array", "items": image_schema()},
                       "schema": {"type": "string"}, "first": {"type": "string"},
                       "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }
