"""Timestamps formatted as each OpenStack service prints them."""

from __future__ import annotations

import datetime as dt


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def keystone_time(epoch: float) -> str:
    """Keystone's token timestamps: microseconds and a Z suffix."""
    return _utc(epoch).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_z(epoch: float) -> str:
    """Nova/Glance/Neutron resource timestamps: whole seconds and a Z suffix."""
    return _utc(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")

