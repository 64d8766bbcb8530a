"""The shipped ARGO (POEM) metric definitions and Sensu Go checks (packaging/argo/,
packaging/sensu/; issue 22). Neither ARGO's POEM nor Sensu can be installed here, so each is
checked against its documented fields (POEM's metric fields as ../shared/specs/nagios-argo.md
lists them; Sensu Go's CheckConfig reference, core/v2) — and each definition's command line,
built as its scheduler builds it (argo-scg: the probe under `path`, `-t` from the metric's
timeout, attributes mapped to options, then the fixed parameters; Sensu: the command with its
entity-label tokens substituted, env_vars set), is run against the sandbox and must pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from probes.sandbox import Sandbox
from probes.sandbox.guests.process import REACH_PORT_KEY
from probes.sandbox.ids import stable_hex
from tests import oidc_site

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
FEDPROBE = ROOT / ".venv/bin/fedprobe"
METRICS = json.loads((ROOT / "packaging/argo/fedprobe-metrics.json").read_text())["metrics"]
CHECKS = list(yaml.safe_load_all((ROOT / "packaging/sensu/fedprobe-checks.yml").read_text()))
ARGO_DIR = "/usr/libexec/argo/probes/fedcloud"
ARGO_PLUGINS = {f"fedprobe-{c}" for c in ("vm", "keystone", "api", "proxy", "token")}
ARGO_SENSU_TIMEOUT = 900  # argo-scg's fixed Sensu timeout
FLAGS = {"OBSESS", "NOHOSTNAME", "NOTIMEOUT", "VO", "PNP", "NRPE", "PASSIVE", "NOPUBLISH"}
METRIC_FORMATS = {"nagios_perfdata", "graphite_plaintext", "influxdb_line", "opentsdb_line",
                  "prometheus_text"}
PERFDATA = re.compile(r"^'?[^'=]+'?=-?[\d.]+[a-zA-Z%]*(;[^; ]*){0,4}$")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    """A sandbox whose OIDC token is a JWT in a file, and whose image carries the AppDB id the
    POEM vm metric looks for."""
    work = tmp_path_factory.mktemp("argo")
    token = work / "access-token"
    sb = oidc_site.start(token, images=[{"name": "egi-monitoring",
                                         "properties": {"ad:appid": "1017"}}])
    try:
        yield sb, token
    finally:
        sb.stop()


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def passed(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The OK status line's perfdata items (fails with the output otherwise)."""
    first = done.stdout.splitlines()[0] if done.stdout else ""
    assert done.returncode == 0 and " OK - " in first, done.stdout + done.stderr
    perf = first.partition(" | ")[2]
    items = perf.split()
    assert items and all(PERFDATA.match(i) for i in items), first
    return items


def test_the_poem_metrics_have_poems_fields() -> None:
    names = {m["name"] for m in METRICS}
    for m in METRICS:
        assert set(m) == {"name", "probe", "description", "config", "flags", "dependency",
                          "attribute", "parameter", "file_parameter", "file_attribute",
                          "docurl"}, m["name"]
        assert re.fullmatch(r"eu\.egi\.cloud\.fedprobe-[A-Za-z]+", m["name"])
        assert m["probe"] in ARGO_PLUGINS  # what the RPM installs there
        config = m["config"]
        assert set(config) == {"maxCheckAttempts", "timeout", "path", "interval",
                               "retryInterval"} and config["path"] == ARGO_DIR
        assert all(isinstance(v, str) for v in config.values())  # POEM keeps them as strings
        # interval and retry are minutes: hourly VM, 5-15 min for the rest; timeout seconds,
        # with a margin below argo-scg's Sensu timeout
        assert 5 <= int(config["retryInterval"]) < int(config["interval"]) <= 60
        assert int(config["timeout"]) <= ARGO_SENSU_TIMEOUT - 60
        assert set(m["flags"]) <= FLAGS and set(m["flags"].values()) <= {"0", "1"}
        assert set(m["dependency"]) <= names - {m["name"]}
        assert all(opt.startswith("-") for opt in [*m["attribute"].values(), *m["parameter"]])
        # the token is a file, as eu.egi.cloud.OpenStack-VM has it: never a value
        assert m["attribute"].get("OIDC_ACCESS_TOKEN") in {"--os-access-token-file", "--file"}
    chain = {m["name"]: set(m["dependency"]) for m in METRICS}
    assert chain["eu.egi.cloud.fedprobe-VM"] == {"eu.egi.cloud.fedprobe-Keystone"}
    assert chain["eu.egi.cloud.fedprobe-Keystone"] == {"eu.egi.cloud.fedprobe-Token"}


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m["name"])
def test_each_poem_metric_as_argo_runs_it_passes_against_the_sandbox(
        metric: dict[str, Any], site: tuple[Sandbox, Path]) -> None:
    sb, token = site
    topology = {"OS_KEYSTONE_URL": sb.auth_url, "OIDC_ACCESS_TOKEN": str(token),
                "OS_PROJECT_ID": stable_hex("project", oidc_site.PROJECT),
                "OS_REGION": "RegionOne"}
    check = metric["probe"].removeprefix("fedprobe-")
    argv = [str(FEDPROBE), check, "-t", metric["config"]["timeout"]]
    for attribute, option in metric["attribute"].items():
        argv += [option, topology[attribute]]
    for option, value in metric["parameter"].items():
        argv += [option, value]
    if check == "vm":  # the sandbox's process guests share ::1, each on a port of its own
        argv += ["--port-metadata-key", REACH_PORT_KEY]
    items = passed(run(argv))
    if check == "vm":
        assert any(i.startswith("total=") for i in items)
        assert sb.live_servers() == []


def test_the_sensu_checks_have_sensus_documented_fields() -> None:
    names = [c["metadata"]["name"] for c in CHECKS]
    assert sorted(names) == sorted(f"fedprobe-{c}" for c in ("vm", "keystone", "api", "token"))
    for c in CHECKS:
        assert set(c) == {"type", "api_version", "metadata", "spec"}
        assert (c["type"], c["api_version"]) == ("CheckConfig", "core/v2")
        assert re.fullmatch(r"[\w.\-]+", c["metadata"]["name"])
        spec = c["spec"]
        assert set(spec) <= {"command", "interval", "cron", "timeout", "ttl", "publish",
                             "round_robin", "subscriptions", "proxy_requests", "proxy_entity_name",
                             "env_vars", "output_metric_format", "output_metric_handlers",
                             "handlers", "runtime_assets", "stdin", "high_flap_threshold",
                             "low_flap_threshold", "check_hooks", "secrets", "pipelines"}
        assert isinstance(spec["command"], str) and spec["publish"] is True
        assert ("interval" in spec) != ("cron" in spec)
        assert isinstance(spec["subscriptions"], list) and spec["subscriptions"]
        assert spec["output_metric_format"] in METRIC_FORMATS
        assert all(isinstance(e, str) for e in spec["proxy_requests"]["entity_attributes"])
        # the Sensu timeout is above the probe's -t, and the probe is told it
        t = float(re.search(r" -t (\d+)", spec["command"]).group(1))  # type: ignore[union-attr]
        assert t < spec["timeout"] < spec["interval"]
        assert spec["env_vars"] == [f"FEDPROBE_SCHEDULER_TIMEOUT={spec['timeout']}"]


def render(command: str, labels: dict[str, str]) -> list[str]:
    """Sensu's token substitution for what the checks use: {{ .labels.x }} and
    {{ .labels.x | default "v" }}."""
    def token(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in labels:
            return labels[name]
        assert default is not None, f"no label {name} and no default"
        return default
    return re.sub(r'\{\{\s*\.labels\.(\w+)\s*(?:\|\s*default\s+"([^"]*)"\s*)?\}\}', token,
                  command).split()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c["metadata"]["name"])
def test_each_sensu_check_as_sensu_runs_it_passes_against_the_sandbox(
        check: dict[str, Any], site: tuple[Sandbox, Path]) -> None:
    sb, token = site
    labels = {"fedprobe_sites": str(sb.sites_yaml), "fedprobe_site": "sandbox",
              "fedprobe_token_file": str(token)}
    argv = render(check["spec"]["command"], labels)
    assert argv[0] == "fedprobe"
    env = dict(e.split("=", 1) for e in check["spec"]["env_vars"])
    items = passed(run([str(FEDPROBE), *argv[1:]], env))
    assert items
    assert sb.live_servers() == []
