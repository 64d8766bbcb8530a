"""The incremental exposition (exporters/exposition.py) is byte for byte what a full render
through the collector gives — after new runs, after a reload drops series, with label values
that need escaping — while rendering again only the series that changed."""

from __future__ import annotations

from unittest import mock

from prometheus_client.exposition import generate_latest

from exporters import exposition
from exporters.collector import registry_for
from exporters.exposition import Exposition
from exporters.model import CRITICAL, OK
from exporters.store import Store
from probes.runner.registry import failure_reasons
from tests.unit.test_exporter_store import DRIVER, run, vm_phases

ODD = 'we"ird\\site\nname'  # quote, backslash and newline: all escaped in label values


def full(store: Store) -> bytes:
    return generate_latest(registry_for(store))


def test_incremental_render_equals_a_full_render() -> None:
    store = Store()
    sites = ("A", "B", ODD)
    store.configure((s, c, DRIVER, 60.0, failure_reasons(c))
                    for s in sites for c in ("vm", "keystone"))
    expo = Exposition(store)
    assert b"".join(expo.render()) == full(store)  # nothing has run yet
    store.record(run("vm", site="A", phases=vm_phases(), reachable=(("ipv4", True),)))
    store.record(run("keystone", CRITICAL, site=ODD, reason="auth"))
    assert b"".join(expo.render()) == full(store)
    store.record(run("vm", CRITICAL, site="B", phases=vm_phases(boot=False), reason="boot",
                     leaked=1))
    store.record(run("keystone", OK, site=ODD, expiries=(("token", 2e9),)))
    assert b"".join(expo.render()) == full(store)
    store.configure((s, c, DRIVER, 120.0, failure_reasons(c))  # a reload
                    for s in ("A", ODD) for c in ("vm",))
    assert b"".join(expo.render()) == full(store)
    assert b'site="B"' not in b"".join(expo.render())


def test_only_changed_series_are_rendered_again() -> None:
    store = Store()
    store.configure((s, "keystone", DRIVER, 60.0, failure_reasons("keystone"))
                    for s in ("A", "B", "C"))
    for s in ("A", "B", "C"):
        store.record(run("keystone", site=s))
    expo = Exposition(store)
    expo.render()
    with mock.patch.object(exposition, "add_series", wraps=exposition.add_series) as added:
        expo.render()
        assert added.call_count == 0
        store.record(run("keystone", CRITICAL, site="B", reason="auth"))
        text = b"".join(expo.render())
        assert added.call_count == 1
    assert text == full(store)
