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
from tests.unit.test_deflate import bounded_reads, single_member
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
    assert b"".join(expo.render().text()) == full(store)  # nothing has run yet
    store.record(run("vm", site="A", phases=vm_phases(), reachable=(("ipv4", True),)))
    store.record(run("keystone", CRITICAL, site=ODD, reason="auth"))
    assert b"".join(expo.render().text()) == full(store)
    store.record(run("vm", CRITICAL, site="B", phases=vm_phases(boot=False), reason="boot",
                     leaked=1))
    store.record(run("keystone", OK, site=ODD, expiries=(("token", 2e9),)))
    assert b"".join(expo.render().text()) == full(store)
    store.configure((s, c, DRIVER, 120.0, failure_reasons(c))  # a reload
                    for s in ("A", ODD) for c in ("vm",))
    assert b"".join(expo.render().text()) == full(store)
    assert b'site="B"' not in b"".join(expo.render().text())


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
        text = b"".join(expo.render().text())
        assert added.call_count == 1
    assert text == full(store)


def test_openmetrics_is_the_same_samples_under_openmetrics_headers() -> None:
    """The cached bodies under OpenMetrics headers are byte for byte prometheus_client's own
    OpenMetrics encoder — for every family this exporter has (a new family type, e.g. one with
    _created samples, would break this and must be looked at)."""
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    from tests.unit.test_exporter_store import full_store

    store = full_store()
    store.record(run("keystone", CRITICAL, site=ODD, reason="auth"))
    rendered = Exposition(store).render()
    ours = b"".join(rendered.openmetrics()) + exposition.EOF_LINE
    assert ours == openmetrics(registry_for(store))
    families = {f.name: f.type for f in text_string_to_metric_families(ours.decode())}
    assert families["fedprobe_vm_leaks"] == "counter" and families["fedprobe_vm_leaked"] == "gauge"


def test_the_exporter_serves_both_formats_and_gzip_from_one_render(tmp_path: object) -> None:
    import gzip
    from pathlib import Path

    import yaml
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    from exporters.app import Exporter

    root = Path(str(tmp_path))
    (root / "sites.yaml").write_text(yaml.safe_dump({"sites": {"A": {
        "image": {"name": "cirros"}, "auth": {"type": "token", "auth_url": "https://k/v3",
                                              "token": "t", "project_id": "p"}}}}))
    (root / "exporter.yaml").write_text(yaml.safe_dump({"sites_file": "sites.yaml"}))
    x = Exporter(root / "exporter.yaml")
    x.store.record(run("vm", CRITICAL, site="A", phases=vm_phases(boot=False), reason="boot"))
    x._render()
    text = b"".join(x.metrics_chunks())
    om = b"".join(x.metrics_chunks(openmetrics=True))
    def results(body: bytes) -> bytes:  # the cached part (the live rest changes: CPU seconds)
        return body[:body.index(b"# HELP fedprobe_exporter_queue_depth")]

    assert results(gzip.decompress(b"".join(x.metrics_gzip()))) == results(text)
    assert results(gzip.decompress(b"".join(x.metrics_gzip(openmetrics=True)))) == results(om)
    for gz in (b"".join(x.metrics_gzip()), b"".join(x.metrics_gzip(openmetrics=True))):
        whole = single_member(gz)  # urllib3 repeats data at a member's end: one member
        for size in (1, 7, 100, 1000, 10240):
            assert bounded_reads(gz, size) == whole
    assert len(results(text)) > 1000
    assert om.endswith(b"\n# EOF\n") and om.count(b"# EOF") == 1
    names = {f.name for f in text_string_to_metric_families(om.decode())}
    assert {"fedprobe_check_runs", "fedprobe_exporter_runs_skipped", "fedprobe_phase_ran"} <= names
