"""Nova's list paging (nova/api/openstack/common.py): ``limit`` and ``marker``, the cap at
``[api] max_limit``, and the ``next`` link every full page carries."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlencode

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.http import Ctx
from probes.sandbox.api.nova_render import compute_url
from probes.sandbox.api.paging import after_marker

T = TypeVar("T")


def _limit(ctx: Ctx) -> int | None:
    raw = ctx.query("limit")
    if raw is None:
        return None
    try:
        limit = int(raw)
        if limit < 0:
            raise ValueError
    except ValueError:
        raise nova_error(400, f"Invalid input for query parameters limit. Value: {raw}. must "
                              "be a non-negative integer") from None
    return limit


def nova_page(ctx: Ctx, items: list[T], key: Callable[[T], str], path: str, *,
              capped: bool = True) -> tuple[list[T], list[dict[str, str]]]:
    """The page after ``marker`` and its ``<collection>_links``.

    ``capped``: at most max_limit items with or without ``limit`` (servers, flavors); the image
    proxy hands ``limit`` to Glance and gets everything without one.
    """
    marker = ctx.query("marker")
    after = after_marker(items, marker, key)
    if after is None:
        raise nova_error(400, f"marker [{marker}] not found")
    max_limit = ctx.cloud.config.max_limit
    asked = _limit(ctx)
    if capped:
        page = after[:min(asked or max_limit, max_limit)]  # limit=0 is no limit
    else:
        page = after[:asked] if asked else after
    # Nova links a page that is full, whether or not more remain (_get_collection_links).
    full = min(max_limit if asked is None else asked, max_limit)
    if not full or len(page) != full:
        return page, []
    params = {k: v for k, v in sorted(ctx.request.args.items()) if k != "marker"}
    params["marker"] = key(page[-1])
    return page, [{"rel": "next", "href": f"{compute_url(ctx)}/{path}?{urlencode(params)}"}]
