"""Validation of POST /servers bodies the way Nova does it (per microversion), with Nova's
messages. Returns what the create needs, resolved against the inventory."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any

from probes.sandbox.api.errors import ApiError, nova_error
from probes.sandbox.api.http import Ctx
from probes.sandbox.inventory import ZONE, FlavorRec, ImageRec, NetworkRec

_BASE_KEYS = {"name", "imageRef", "flavorRef", "networks", "user_data", "metadata",
              "config_drive", "key_name", "availability_zone", "security_groups", "adminPass",
              "accessIPv4", "accessIPv6", "OS-DCF:diskConfig", "block_device_mapping",
              "block_device_mapping_v2", "min_count", "max_count", "return_reservation_id"}


@dataclass(frozen=True)
class CreateRequest:
    name: str
    image: ImageRec
    flavor: FlavorRec
    networks: tuple[NetworkRec, ...]
    user_data: bytes | None
    metadata: dict[str, str]
    tags: tuple[str, ...]
    config_drive: bool
    description: str | None
    min_count: int = 1
    max_count: int = 1
    return_reservation_id: bool = False


def _invalid(field: str, value: Any, reason: str) -> ApiError:
    shown = json.dumps(value)[:200] if not isinstance(value, str) else value[:200]
    return nova_error(400, f"Invalid input for field/attribute {field}. Value: {shown}. {reason}")


def _allowed_keys(mv: tuple[int, int]) -> set[str]:
    keys = set(_BASE_KEYS)
    if mv < (2, 57):
        keys.add("personality")
    if mv >= (2, 19):
        keys.add("description")
    if mv >= (2, 52):
        keys.add("tags")
    if mv >= (2, 63):
        keys.add("trusted_image_certificates")
    if mv >= (2, 74):
        keys |= {"host", "hypervisor_hostname"}
    return keys


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _name(server: dict[str, Any]) -> str:
    name = server.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or name != name.strip():
        raise _invalid("name", name, "Must be a non-empty string of at most 255 characters "
                                     "without leading or trailing whitespace.")
    return name


def _image(ctx: Ctx, server: dict[str, Any], project_id: str) -> ImageRec:
    ref = server.get("imageRef")
    if ref in (None, ""):
        raise nova_error(400, "Block Device Mapping is Invalid: Boot sequence for the instance "
                              "and image/block device mapping combination is not valid.")
    ref = str(ref).rsplit("/", 1)[-1]
    if not _is_uuid(ref):
        raise nova_error(400, "Invalid imageRef provided.")
    image = ctx.cloud.inventory.images.get(ref)
    if image is None or not ctx.cloud.inventory.image_visible(image, project_id):
        raise nova_error(400, f"Image {ref} could not be found.")
    return image


def _flavor(ctx: Ctx, server: dict[str, Any]) -> FlavorRec:
    if "flavorRef" not in server:
        raise _invalid("server", server, "'flavorRef' is a required property")
    ref = str(server["flavorRef"]).rsplit("/", 1)[-1]
    flavor = ctx.cloud.inventory.flavors.get(ref)
    if flavor is None:
        raise nova_error(400, f"Flavor {ref} could not be found.")
    return flavor


def _usable(ctx: Ctx, project_id: str) -> list[NetworkRec]:
    return [n for n in ctx.cloud.inventory.networks.values()
            if n.usable_by(project_id) and not n.external]


def _networks(ctx: Ctx, server: dict[str, Any], project_id: str,
              mv: tuple[int, int]) -> tuple[NetworkRec, ...]:
    value = server.get("networks")
    if value is None:
        if mv >= (2, 37):
            raise _invalid("server", server, "'networks' is a required property")
        usable = _usable(ctx, project_id)
        if len(usable) > 1:
            raise nova_error(409, "Multiple possible networks found, use a Network ID to be "
                                  "more specific.")
        return tuple(usable)
    if value == "none" and mv >= (2, 37):
        return ()
    if value == "auto" and mv >= (2, 37):
        # Nova picks the one usable network; without the auto-allocated-topology extension
        # it cannot create one, and with several it will not guess (nova/network/neutron.py)
        usable = _usable(ctx, project_id)
        if not usable:
            raise nova_error(400, f"Unable to automatically allocate a network for project "
                                  f"{project_id}")
        if len(usable) > 1:
            raise nova_error(409, "Multiple possible networks found, use a Network ID to be "
                                  "more specific.")
        return (usable[0],)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _invalid("networks", value, "Must be a list of objects (or 'auto'/'none' from "
                                          "microversion 2.37).")
    chosen = []
    for item in value:
        net_id = item.get("uuid")
        if not isinstance(net_id, str) or not _is_uuid(net_id):
            raise nova_error(400, f"Bad networks format: network uuid is not in proper format "
                                  f"({net_id})")
        net = ctx.cloud.inventory.networks.get(net_id)
        if net is None or not net.usable_by(project_id):
            raise nova_error(400, f"Network {net_id} could not be found.")
        if not net.subnets:
            raise nova_error(400, f"Network {net_id} requires a subnet in order to boot "
                                  "instances on.")
        chosen.append(net)
    return tuple(chosen)


_BOOLEANS = {"True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "False",
             "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"}


def _positive(server: dict[str, Any], field: str) -> int | None:
    """Nova's parameter_types.positive_integer: an integer >= 1 or a string of digits."""
    value = server.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _invalid(field, value, f"{json.dumps(value)} is not of type 'integer', 'string'")
    if isinstance(value, str) and (not value or not value.isascii() or not value.isdigit()):
        raise _invalid(field, value, f"'{value}' does not match '^[0-9]*$'")
    if int(value) < 1:
        raise _invalid(field, value, f"{value} is less than the minimum of 1")
    return int(value)


def _counts(server: dict[str, Any]) -> tuple[int, int, bool]:
    """min_count, max_count (defaults 1 and min_count) and return_reservation_id, refused as
    nova/api/openstack/compute/servers.py refuses them."""
    min_count = _positive(server, "min_count") or 1
    max_count = _positive(server, "max_count") or min_count
    if min_count > max_count:
        raise nova_error(400, "min_count must be <= max_count")
    wanted = server.get("return_reservation_id", False)
    if not isinstance(wanted, bool) and wanted not in _BOOLEANS:
        raise _invalid("return_reservation_id", wanted, "is not one of the boolean values")
    # Nova tests the raw value, so the string "False" asks for a reservation id too.
    return min_count, max_count, bool(wanted)


def _user_data(server: dict[str, Any]) -> bytes | None:
    value = server.get("user_data")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 65535:
        raise _invalid("user_data", value, "Must be base64 text of at most 65535 characters.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("user_data", value[:40], "is not a base64 string") from None


def metadata_of(value: Any, field: str = "metadata") -> dict[str, str]:
    """Nova's metadata rules: string keys 1..255, string values up to 255."""
    if not isinstance(value, dict):
        raise _invalid(field, value, "Must be an object.")
    for key, item in value.items():
        if not 1 <= len(key) <= 255:
            raise _invalid(field, value, f"key {key!r} must be 1 to 255 characters.")
        if not isinstance(item, str) or len(item) > 255:
            raise _invalid(field, value, f"value of {key!r} must be a string of at most 255 "
                                         "characters.")
    return dict(value)


def tags_of(value: Any) -> tuple[str, ...]:
    """Nova's tag rules: at most 50, each 1..60 characters without '/' or ','."""
    if not isinstance(value, list) or len(value) > 50:
        raise _invalid("tags", value, "Must be a list of at most 50 tags.")
    for tag in value:
        if not isinstance(tag, str) or not 1 <= len(tag) <= 60 or "/" in tag or "," in tag:
            raise _invalid("tags", value, f"Invalid tag {tag!r}.")
    return tuple(dict.fromkeys(value))


def parse_create(ctx: Ctx, body: dict[str, Any], project_id: str) -> CreateRequest:
    """Validate a create body; raise ApiError(400/409) with Nova's message when wrong."""
    mv = ctx.microversion or (2, 1)
    unknown = sorted(set(body) - {"server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"})
    server = body.get("server")
    if unknown or not isinstance(server, dict):
        raise _invalid("root", body, "'server' is a required property" if not unknown else
                       f"Additional properties are not allowed ({unknown[0]!r} was unexpected)")
    extra = sorted(set(server) - _allowed_keys(mv))
    if extra:
        raise _invalid("server", server, f"Additional properties are not allowed "
                                         f"({extra[0]!r} was unexpected)")
    name = _name(server)
    counts = _counts(server)  # before the lookups: the controller checks them first
    flavor = _flavor(ctx, server)
    image = _image(ctx, server, project_id)
    networks = _networks(ctx, server, project_id, mv)
    zone = server.get("availability_zone")
    if zone is not None and zone != ZONE:
        raise nova_error(400, "The requested availability zone is not available")
    if server.get("key_name") is not None:
        raise nova_error(400, "Invalid key_name provided.")
    for group in server.get("security_groups") or []:
        if not isinstance(group, dict) or group.get("name") != "default":
            raise nova_error(400, f"Security group {group} not found for project "
                                  f"{project_id}.")
    config_drive = server.get("config_drive", False)
    if not isinstance(config_drive, bool):
        raise _invalid("config_drive", config_drive, "Must be a boolean.")
    description = server.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise _invalid("description", description, "Must be a string of at most 255 characters.")
    if flavor.spec.disk and image.spec.min_disk > flavor.spec.disk:
        raise nova_error(400, "Flavor's disk is too small for requested image. Flavor disk is "
                              f"{flavor.spec.disk * 2**30} bytes, minimum disk is "
                              f"{image.spec.min_disk * 2**30} bytes.")
    if image.spec.min_ram > flavor.spec.ram:
        raise nova_error(400, "Flavor's memory is too small for requested image.")
    return CreateRequest(name, image, flavor, networks, _user_data(server),
                         metadata_of(server.get("metadata", {})),
                         tags_of(server["tags"]) if "tags" in server else (), config_drive,
                         description, *counts)
