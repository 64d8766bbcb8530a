"""What a plugin prints is read by Nagios, Icinga and Sensu: one ``|`` (perfdata starts there) and
no more, whatever a cloud's error text or a path holds; at most 4 KiB; exit names that say what
happened."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from probes.checks import proxy, steps, token, vm
from probes.checks.nagios import MAX_OUTPUT, unknown_line
from probes.checks.proxy import Finding, ProxyVerdict
from probes.checks.steps import CRITICAL, OK, Step
from probes.cli.env import CommandStatus, Environment, ExitStatus
from probes.config.site import parse as parse_site
from probes.runner.result import PHASES, LifecycleResult, Outcome, Phase

SITE = parse_site({"name": "s", "auth": {"type": "token", "auth_url": "https://k/v3",
                                                  "token": "t", "project_id": "p"},
                            "image": {"name": "i"}})
PIPE = "HTTP 500: upstream said a|b || c"


def perfdata_intact(text: str) -> None:
    """Exactly one ``|``, on the status line, with perfdata after it."""
    assert text.count("|") == 1, text
    first = text.splitlines()[0]
    assert " | " in first and "=" in first.split(" | ", 1)[1]


def result(detail: str) -> LifecycleResult:
    phases = tuple(Phase(n, Outcome.FAILED if n == "boot" else Outcome.PASSED,
                         detail if n == "boot" else "fine", 1.0,
                         {"fault": detail} if n == "boot" else {}) for n in PHASES)
    return LifecycleResult("s", "openstack", "r1", phases, 11.0, "srv-1")


@pytest.mark.parametrize("verbose", [1, 2])
def test_a_pipe_in_a_cloud_error_cannot_corrupt_vm_perfdata(verbose: int) -> None:
    text, code = vm.render(result(PIPE), SITE, verbose, None, None, {})
    assert code == 2
    perfdata_intact(text)
    assert "boot: HTTP 500: upstream said ab  c" in text.splitlines()[0]  # the status line too
    assert "warning: removed illegal characters (0x7c) from long output" in text


def test_a_pipe_in_a_step_detail_cannot_corrupt_perfdata() -> None:
    text, _ = steps.render("KEYSTONE", [Step("auth", OK, "password", 0.1),
                                        Step("version_compute", CRITICAL, PIPE, 0.2)], "ok", 1)
    perfdata_intact(text)


def test_a_pipe_in_a_proxy_subject_cannot_corrupt_perfdata(tmp_path: Path) -> None:
    from tests.pki import make_pki
    from tests.unit.test_runchecks import VO

    pki = make_pki(tmp_path / "pki")
    verdict = proxy.judge_proxy(pki.proxy("p", hours=24), None, VO, None)
    assert verdict.info is not None
    odd = type(verdict.info)(**{**verdict.info.__dict__, "subject": "/CN=a|b"})
    text, _ = proxy.render(ProxyVerdict(verdict.path, odd, verdict.ac, verdict.proxy_left,
                                        verdict.ac_left), None, None, 1)
    perfdata_intact(text)
    assert "subject  /CN=ab" in text


def test_token_lines_are_screened() -> None:
    text, _ = token.render(Path("/tmp/a|b"), 3600.0, "", "600:", "120:")
    perfdata_intact(text)
    text, _ = token.render(Path("/tmp/a|b"), None, "token file /tmp/a|b: no such file", "",
                           "")
    assert "|" not in text and text.startswith("OIDC_TOKEN CRITICAL - token file /tmp/ab")
    assert "|" not in unknown_line("FEDCLOUD_VM", "site x: cacert /a|b: no such file")


def test_proxy_and_token_outputs_are_capped() -> None:
    many = tuple(Finding(CRITICAL, f"finding {i}: " + "x" * 200) for i in range(100))
    text, _ = proxy.render(ProxyVerdict("/tmp/p", None, None, None, None, many), None, None, 1)
    assert len(text.encode()) <= MAX_OUTPUT and text.endswith("(truncated)\n")
    text, _ = token.render(Path("/tmp/t"), None, "é" * 5000, "", "")
    assert len(text.encode()) <= MAX_OUTPUT and text.endswith("(truncated)\n")
    text.encode().decode()  # cut at a character, not inside one
    assert len(unknown_line("X", "y" * 10000).encode()) <= MAX_OUTPUT


def test_exit_statuses_have_no_aliases() -> None:
    """A sandbox or exporter failure is ERROR, not a CRITICAL it never measured."""
    for enum in (ExitStatus, CommandStatus):
        assert len(enum.__members__) == len(list(enum)), enum.__members__
    assert CommandStatus.ERROR.name == "ERROR" and int(CommandStatus.ERROR) == 2


def test_a_sandbox_config_error_exits_error(tmp_path: Path) -> None:
    from probes.cli.main import main

    bad = tmp_path / "sandbox.yaml"
    bad.write_text("guests: [not, a, mapping\n")
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    status = main(["sandbox", "--config", str(bad)], env)
    assert status is CommandStatus.ERROR and status.name == "ERROR", env.stderr.getvalue()
