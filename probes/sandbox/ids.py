"""Identifiers in the shapes the real services use: stable ones for configured objects, random
ones for what clients create."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("5b0f3a52-6f1c-4c59-9d8e-6a8f2f6e0fed")


def stable_uuid(kind: str, name: str) -> str:
    """A dashed UUID that is the same for the same kind and name (Nova/Glance/Neutron style)."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def stable_hex(kind: str, name: str) -> str:
    """A 32-hex id that is the same for the same kind and name (Keystone style)."""
    return uuid.uuid5(_NAMESPACE, f"{kind}:{name}").hex


def new_uuid() -> str:
    """A fresh dashed UUID."""
    return str(uuid.uuid4())


def new_hex() -> str:
    """A fresh 32-hex id."""
    return uuid.uuid4().hex
