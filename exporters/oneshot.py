"""One-shot output of a `fedprobe vm` run for Prometheus, when Nagios or cron schedules it: a
node_exporter textfile-collector file (written to a temporary file and renamed, so the collector
never reads half of it) and/or a push to a Pushgateway (grouping key job + site). The series are
the exporter's per-check, per-phase and VM ones for that run (docs/exporter-metrics.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.exposition import push_to_gateway, write_to_textfile

from exporters.collector import registry_for
from exporters.runchecks import vm_run
from exporters.store import Store

if TYPE_CHECKING:
    from probes.config.site import Site
    from probes.runner.result import LifecycleResult

JOB = "fedprobe_vm"


def textfile_path(directory: Path, site: str) -> Path:
    """DIR/fedprobe_vm_<site>.prom (characters a file name should not hold become _)."""
    return directory / f"{JOB}_{re.sub(r'[^A-Za-z0-9_.-]', '_', site)}.prom"


def publish(result: LifecycleResult, site: Site, started: float, textfile: Path | None,
            pushgateway: str | None, timeout: float = 10.0) -> list[str]:
    """Write and/or push the run; one line per failure (the plugin's verdict stands)."""
    store = Store(history=1)
    store.record(vm_run(result, site, started))
    registry = registry_for(store, oneshot=True)
    problems = []
    if textfile is not None:
        path = textfile_path(textfile, site.name)
        try:
            write_to_textfile(str(path), registry)
        except OSError as exc:
            problems.append(f"could not write --textfile {path}: {exc.strerror}")
    if pushgateway:
        try:
            push_to_gateway(pushgateway, job=JOB, registry=registry,
                            grouping_key={"site": site.name}, timeout=timeout)
        except OSError as exc:  # URLError and HTTPError are OSErrors
            problems.append(f"could not push to --pushgateway {pushgateway}: "
                            f"{getattr(exc, 'reason', None) or exc}")
        except Exception as exc:  # a side channel: it never changes the verdict
            problems.append(f"could not push to --pushgateway {pushgateway}: "
                            f"{type(exc).__name__}: {str(exc)[:100]}")
    return problems
