"""Marker pagination as Nova and Glance do it: the page starts after the item named by marker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def after_marker(items: list[T], marker: str | None, key: Callable[[T], str]) -> list[T] | None:
    """Items after the marker (all without one); None when the marker names no item."""
    if marker is None:
        return items
    ids = [key(item) for item in items]
    if marker not in ids:
        return None
    return items[ids.index(marker) + 1:]
