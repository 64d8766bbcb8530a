"""Glance v2's image-list query as the API reference describes it: the ``in:`` operator (id,
name, status, container_format, disk_format), ``size_min``/``size_max``, ``protected``,
``os_hidden`` (hidden images only when true, none by default), ``member_status`` (shared images),
``sort`` (``key:dir,...``) or ``sort_key``/``sort_dir``, and any other key as a custom property.
Not modelled: tag filters and the ``gt:``/``lt:`` time operators (400, not silently [])."""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

from probes.sandbox.api.errors import glance_error

IN_FILTERS = ("id", "name", "status", "visibility", "disk_format", "container_format", "owner")
SORT_KEYS = ("id", "name", "status", "visibility", "disk_format", "container_format", "owner",
             "size", "virtual_size", "min_disk", "min_ram", "created_at", "updated_at")
PAGING = ("limit", "marker", "sort", "sort_key", "sort_dir")
SPECIAL = ("size_min", "size_max", "protected", "os_hidden", "member_status", "tag",
           "created_at", "updated_at")
MEMBER_STATUS = ("accepted", "pending", "rejected", "all")


def _values(raw: str) -> set[str]:
    """`in:a,b,"c,d"` -> {a, b, "c,d"}; a plain value -> {value}."""
    if not raw.startswith("in:"):
        return {raw}
    return {v for row in csv.reader([raw[3:]]) for v in row}


def _bool(name: str, raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise glance_error(400, f"Invalid value '{raw}' for parameter '{name}': "
                                "must be true or false")
    return raw.lower() == "true"


def _size(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise glance_error(400, f"{name} param must be an integer") from None
    if value < 0:
        raise glance_error(400, f"{name} param must be positive")
    return value


def select(docs: list[dict[str, Any]], args: Any, shared: Callable[[dict[str, Any]], bool],
           ) -> list[dict[str, Any]]:
    """The image documents the query selects (not yet sorted or paged)."""
    for key in ("tag", "created_at", "updated_at"):
        if key in args:
            raise glance_error(400, f"The sandbox does not model the {key} filter")
    hidden = _bool("os_hidden", args["os_hidden"]) if "os_hidden" in args else False
    docs = [d for d in docs if bool(d.get("os_hidden")) == hidden]
    if "protected" in args:
        protected = _bool("protected", args["protected"])
        docs = [d for d in docs if bool(d.get("protected")) == protected]
    if "size_min" in args:
        low = _size("size_min", args["size_min"])
        docs = [d for d in docs if (d.get("size") or 0) >= low]
    if "size_max" in args:
        high = _size("size_max", args["size_max"])
        docs = [d for d in docs if (d.get("size") or 0) <= high]
    status = args.get("member_status", "accepted")
    if status not in MEMBER_STATUS:
        raise glance_error(400, f"Invalid status value: {status}")
    if status in ("pending", "rejected"):  # every share in the sandbox is accepted
        docs = [d for d in docs if not shared(d)]
    for key in IN_FILTERS:
        if key in args and (key, args[key]) != ("visibility", "all"):
            wanted = _values(args[key])
            docs = [d for d in docs if str(d.get(key)) in wanted]
    for key, value in args.items():
        if key not in (*IN_FILTERS, *PAGING, *SPECIAL):  # a custom property, as Glance does
            docs = [d for d in docs if str(d.get(key)) == value]
    return docs


def order(docs: list[dict[str, Any]], args: Any) -> list[dict[str, Any]]:
    """Sorted as asked: ``sort=k1:asc,k2`` or ``sort_key`` (repeatable) with ``sort_dir``;
    created_at desc by default; id as the last key, so pages are stable."""
    keys: list[tuple[str, str]] = []
    if "sort" in args:
        if "sort_key" in args or "sort_dir" in args:
            raise glance_error(400, "The 'sort' argument is not supported with 'sort_key' or "
                                    "'sort_dir'.")
        for part in args["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            keys.append((key, direction or "desc"))
    else:
        dirs = args.getlist("sort_dir") or ["desc"]
        for i, key in enumerate(args.getlist("sort_key") or ["created_at"]):
            keys.append((key, dirs[min(i, len(dirs) - 1)]))
    for key, direction in keys:
        if key not in SORT_KEYS:
            raise glance_error(400, f"Invalid sort key: {key}. It should be one of the "
                                    f"following: {', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise glance_error(400, f"Invalid sort direction: {direction}")
    if "id" not in (k for k, _ in keys):
        keys.append(("id", keys[-1][1] if keys else "desc"))
    for key, direction in reversed(keys):  # a stable sort per key, the last key first
        docs = sorted(docs, key=_by(key), reverse=direction == "desc")
    return docs


def _by(key: str) -> Callable[[dict[str, Any]], tuple[bool, int | str]]:
    return lambda doc: _sortable(doc.get(key))


def _sortable(value: Any) -> tuple[bool, int | str]:
    """Numbers by value, the rest as text; absent (null) after the rest."""
    if value is None:
        return True, ""
    return False, value if isinstance(value, int) else str(value)
