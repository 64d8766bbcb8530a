"""What the scheduler tests (Nagios 4, Icinga 2, ARGO, Sensu) share.

A sandbox site that logs in with an OIDC access token *file*: the token is a JWT, so that
`fedprobe token` can read its expiry, and the sandbox's identity provider egi.eu accepts exactly
that token for project vo.example.org; overwrite the file (e.g. with an expired JWT the sandbox
does not accept) and the token check, the Keystone login and the VM run all fail, as at a real
site. Beside it, a slow site whose boots take 60 s (longer than the schedulers' timeouts in the
tests). And the notification script the tests' schedulers run, with what it wrote."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from probes.sandbox import Sandbox
from tests.conftest import make_config
from tests.tokens import expiring_in

PROJECT = "vo.example.org"
SITE = "sandbox-oidc"  # its name in the sites file the sandbox writes


def start(token: Path, **overrides: Any) -> Sandbox:
    """Write a JWT valid for 6 h to TOKEN; a started sandbox (process guests) accepting it."""
    token.write_text(expiring_in(6 * 3600))
    idp = {"id": "egi.eu", "protocols": ["openid"],
           "tokens": [{"token": token.read_text(), "user": "egi-user@egi.eu",
                       "projects": [PROJECT]}]}
    return Sandbox(make_config(identity={"identity_providers": [idp]}, **overrides)).start()


def sites_file(sb: Sandbox, token: Path, path: Path) -> Path:
    """SB's sites file, its `sandbox-oidc` site reading the token from TOKEN, written to PATH."""
    sites = yaml.safe_load(sb.sites_yaml.read_text())
    auth = sites["sites"][SITE]["auth"]
    del auth["access_token"]
    auth["access_token_file"] = str(token)
    path.write_text(yaml.safe_dump(sites))
    return path


@contextlib.contextmanager
def good_and_slow(work: Path) -> Iterator[tuple[Sandbox, Sandbox, Path, Path]]:
    """(good, slow, token file, good's sites file) in WORK: good logs in with the token file
    and boots at once; slow (site `sandbox`, a password) boots for 60 s. Both stopped after."""
    token = work / "access-token"
    good = start(token)
    slow = Sandbox(make_config()).start()
    try:
        slow.set_faults(latency={"boot": 60})
        yield good, slow, token, sites_file(good, token, work / "good-sites.yaml")
    finally:
        good.stop()
        slow.stop()


NOTIFY = """#!/bin/sh
echo "$1;$2;$3;$4" >>"{out}"
"""


def notify_script(directory: Path) -> Path:
    """A notification command for a scheduler: `notify.sh HOST SERVICE STATE TYPE` appends a
    line to DIRECTORY/notifications."""
    script = directory / "notify.sh"
    script.write_text(NOTIFY.format(out=directory / "notifications"))
    script.chmod(0o755)
    return script


def notifications(directory: Path) -> list[list[str]]:
    """What notify_script's command wrote: [host, service, state, type] each."""
    path = directory / "notifications"
    return [ln.split(";") for ln in path.read_text().splitlines()] if path.exists() else []


def tail(log: Path, lines: int = 30) -> str:
    """The end of a scheduler's log, for a failing assertion."""
    return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""


def poll(what: str, value: Callable[[], Any], within: float, scheduler: subprocess.Popen[str],
         describe: Callable[[], str], every: float = 0.2) -> Any:
    """value() once it is truthy, polled while the scheduler runs; a failed assertion naming
    WHAT and describe() (the services' states, or the log's tail) otherwise."""
    end = time.monotonic() + within
    while True:
        got = value()
        if got:
            return got
        assert scheduler.poll() is None, f"the scheduler exited while waiting for {what}"
        assert time.monotonic() < end, f"{what} within {within:g}s; {describe()}"
        time.sleep(every)
