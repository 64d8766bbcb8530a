"""What an operator reads off a running exporter: a check turning bad or recovering in the
journal at INFO, the process's own series and the build it runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from exporters.app import Exporter, log_state_change
from exporters.model import CRITICAL, OK, WARNING, CheckRun
from tests.unit.test_exporter_reload import write


def run(state: int, summary: str = "x") -> CheckRun:
    return CheckRun("A", "openstack", "vm", state, summary, 0.0, 1.0)


def test_state_changes_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="exporters.app"):
        log_state_change(None, run(OK))                     # first run, OK: debug only
        log_state_change(run(OK), run(CRITICAL, "boot: No valid host"))
        log_state_change(run(CRITICAL), run(CRITICAL))       # still bad: debug only
        log_state_change(run(CRITICAL), run(WARNING))
        log_state_change(None, run(CRITICAL, "auth: refused"))
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info == ["A vm: OK -> CRITICAL: boot: No valid host", "A vm: CRITICAL -> WARNING: x",
                    "A vm: CRITICAL (first run): auth: refused"]


def test_process_series_and_build_info(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    x = Exporter(write(tmp_path))
    families = {f.name: f for f in text_string_to_metric_families(x.metrics().decode())}
    assert families["process_resident_memory_bytes"].samples[0].value > 10e6
    assert {"process_cpu_seconds", "process_open_fds", "process_start_time_seconds"} <= \
        set(families)
    (build,) = families["fedprobe_build_info"].samples
    assert build.value == 1 and build.labels["version"] not in ("", "unknown")
    assert build.labels["python"].startswith("3.")
