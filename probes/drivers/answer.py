"""Reading a cloud's JSON answers: the shapes a driver expects (an object, a list of objects, a
string id, a whole number), and one block that turns any answer of another shape into a
DriverError naming the call — the site's fault (CRITICAL), never an internal error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from probes.drivers.base import DriverError

# What reading an answer of the wrong shape raises (a missing key, a list for an object, text for
# a number, no JSON at all): the site's fault, named by the call, never an internal error.
MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)


@contextlib.contextmanager
def answer(what: str, maybe_done: bool = False) -> Iterator[None]:
    """Read a call's answer in this block: a malformed one becomes a DriverError naming the
    call (``maybe_done``: the call itself may have been carried out, e.g. a create)."""
    try:
        yield
    except MALFORMED as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise DriverError(f"{what}: malformed answer ({detail})"[:300],
                          maybe_done=maybe_done) from None


def obj(value: Any) -> dict[str, Any]:
    """A JSON object, or TypeError (read inside answer())."""
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def objects(value: Any) -> list[dict[str, Any]]:
    """A JSON list of objects, or TypeError."""
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return [obj(v) for v in value]


def text(value: Any) -> str:
    """A JSON string (an id, a name), or TypeError (a number, a list, null is no name)."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def count(value: Any) -> int:
    """A JSON whole number of 0 or more (absent or null: 0), or TypeError/ValueError."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"negative count {value}")
    return value
