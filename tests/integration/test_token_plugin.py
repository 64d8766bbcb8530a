"""Golden-output tests of `fedprobe token`: JWT expiry states, bad files, and refreshing at the
sandbox's OIDC token endpoint over HTTPS (file replaced atomically, mode 0600, no token shown)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from probes.sandbox import Sandbox, SandboxConfig
from tests.conftest import make_config
from tests.tokens import expiring_in

LINE = re.compile(r"^OIDC_TOKEN (OK|WARNING|CRITICAL|UNKNOWN) - (.+?)(?: \| (.*))?$")


def token(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "probes", "token", *args],
                          capture_output=True, text=True, timeout=60)
    match = LINE.match(proc.stdout.splitlines()[0])
    assert match, proc.stdout + proc.stderr
    assert {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[match.group(1)] == \
        proc.returncode
    return proc.returncode, match.group(2), proc.stdout


# The four expiry states: tests/goldens/token_{ok,warning,critical,expired}.txt


def test_bad_files(tmp_path: Path) -> None:
    assert token("--file", str(tmp_path / "none"))[:2] == (
        2, f"token file {tmp_path / 'none'}: no such file")
    opaque = tmp_path / "opaque"
    opaque.write_text("not-a-jwt")
    code, summary, _ = token("--file", str(opaque))
    assert code == 2 and "not a JWT" in summary
    assert token("--file", str(opaque), "-w", "x")[0] == 3
    assert token()[0] == 3  # --file is required


def test_refresh_at_the_token_endpoint(sandbox_factory: Callable[..., Sandbox],
                                       tmp_path: Path) -> None:
    fresh = expiring_in(3600)
    identity = SandboxConfig().identity.model_dump()
    identity["identity_providers"][0]["tokens"][0].update(token=fresh,
                                                          refresh_token="canary-refresh-1Zp")
    sb = sandbox_factory(make_config(identity=identity), tls=True)
    at, rt = tmp_path / "access_token", tmp_path / "refresh_token"
    at.write_text(expiring_in(60))
    rt.write_text("canary-refresh-1Zp\n")
    args = ["--file", str(at), "--refresh", "--refresh-token-file", str(rt), "--token-endpoint",
            f"{sb.base_url}/oidc/token", "--client-id", "fedprobe-sandbox", "--cacert",
            str(sb.ca_file)]
    code, summary, out = token(*args)
    assert code == 0 and "(refreshed)" in summary, out
    assert at.read_text().strip() == fresh
    assert stat.S_IMODE(at.stat().st_mode) == 0o600
    assert "canary-refresh-1Zp" not in out and fresh not in out
    code, summary, _ = token(*args)
    assert code == 0 and "refreshed" not in summary  # not due
    rt.write_text("revoked\n")
    at.write_text(expiring_in(60))
    code, summary, _ = token(*args)
    assert code == 2 and "refresh failed: OIDC token endpoint" in summary
    assert "refused the refresh token (HTTP 400)" in summary
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".token-")]
