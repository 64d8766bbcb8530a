"""A file under check vs a file that configures the check, judged the same by the plugin (a
subprocess, as Nagios runs it) and the exporter (the check registry through run_check):

- the token of `fedprobe token` and the proxy of `fedprobe proxy` that are missing, unreadable or
  garbage are CRITICAL, with one line naming the file (the credential is what is broken);
- a CA bundle that is missing, empty or not PEM is UNKNOWN (the check could not be made), and the
  exporter counts it under reason ``config``."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from exporters.model import CRITICAL, UNKNOWN
from tests.pki import VO, Pki, make_pki
from tests.tokens import b64url
from tests.unit.test_runchecks import configured, run_now

LINE = re.compile(r"^(X509_PROXY|OIDC_TOKEN) (OK|WARNING|CRITICAL|UNKNOWN) - (.+?)(?: \| .*)?$")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def plugin(*args: str) -> tuple[int, str]:
    """Exit code and status line (perfdata cut) of `fedprobe ARGS`."""
    proc = subprocess.run([sys.executable, "-m", "probes", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    first = proc.stdout.splitlines()[0]
    match = LINE.match(first)
    assert match, out
    return proc.returncode, first.split(" | ", 1)[0]


def _der_damaged(good: bytes) -> bytes:
    """The proxy with a byte of its first certificate's issuer name changed (cryptography reads
    names lazily: this used to escape as a ValueError)."""
    text = good.decode()
    body = re.search(r"-----BEGIN CERTIFICATE-----\n(.*?)\n-----END", text, re.S)
    assert body
    der = bytearray(base64.b64decode("".join(body.group(1).split())))
    der[60] ^= 0xFF  # inside the TBSCertificate's issuer
    return text.replace(body.group(1), base64.encodebytes(bytes(der)).decode().strip()).encode()


def _key_unterminated(good: bytes) -> bytes:
    return good[:good.index(b"-----END", good.index(b"PRIVATE KEY-----"))]


PROXY_GARBAGE: dict[str, Callable[[bytes], bytes | None]] = {
    "missing": lambda good: None,
    "empty": lambda good: b"",
    "binary": lambda good: bytes(range(256)) * 4,
    "truncated": lambda good: good[:len(good) // 2],
    "key_unterminated": _key_unterminated,
    "der_damaged": _der_damaged,
}


@pytest.mark.parametrize("kind", sorted(PROXY_GARBAGE))
def test_a_broken_proxy_is_critical_in_plugin_and_exporter(tmp_path: Path, pki: Pki,
                                                           kind: str) -> None:
    good = pki.proxy(f"good-{kind}", hours=24).read_bytes()
    path = tmp_path / "x509up"
    data = PROXY_GARBAGE[kind](good)
    if data is not None:
        path.write_bytes(data)
        path.chmod(0o600)
    code, line = plugin("proxy", "--file", str(path), "--cacert", str(pki.certdir),
                        "--vo", VO)
    assert code == 2 and line.startswith(f"X509_PROXY CRITICAL - {path}: "), line
    config, job = configured(tmp_path, "proxy", {"file": str(path),
                                                 "cacert": str(pki.certdir)}, vo=VO)
    run = run_now(config, job)
    assert (run.state, run.reason, run.summary) == (CRITICAL, "credential", line)


def _jwt(payload: bytes) -> bytes:
    return b"a." + b64url(payload).encode() + b".c"


TOKEN_GARBAGE: dict[str, bytes | None] = {
    "missing": None,
    "empty": b"",
    "binary": b"\xff\xfe\x00garbage",
    "not_a_jwt": b"opaque-access-token",
    "payload_not_json": _jwt(b"not json"),
    "payload_not_utf8": _jwt(b"{\xff\xfe}"),
    "exp_infinite": _jwt(b'{"exp": 1e400}'),
    "exp_nan": _jwt(b'{"exp": NaN}'),
    "exp_boolean": _jwt(json.dumps({"exp": True}).encode()),
}


@pytest.mark.parametrize("kind", sorted(TOKEN_GARBAGE))
def test_a_broken_token_is_critical_in_plugin_and_exporter(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "token"
    data = TOKEN_GARBAGE[kind]
    if data is not None:
        path.write_bytes(data)
    code, line = plugin("token", "--file", str(path))
    assert code == 2 and line.startswith("OIDC_TOKEN CRITICAL - "), line
    assert str(path) in line or "access token" in line  # names the file, or what is in it
    config, job = configured(tmp_path, "token", {"file": str(path)})
    run = run_now(config, job)
    assert (run.state, run.reason, run.summary) == (CRITICAL, "credential", line)


@pytest.mark.parametrize("kind,words", [
    ("missing", "no such file or directory"),
    ("empty_dir", "no readable CA certificate in it"),
    ("not_pem", "no readable CA certificate in it"),
])
def test_a_broken_ca_bundle_is_unknown_in_plugin_and_exporter(tmp_path: Path, pki: Pki,
                                                             kind: str, words: str) -> None:
    proxy = pki.proxy(f"ok-{kind}", hours=24)
    ca = tmp_path / "ca"
    if kind == "empty_dir":
        ca.mkdir()
    elif kind == "not_pem":
        ca.write_bytes(b"\x00\x01 not a certificate")
    code, line = plugin("proxy", "--file", str(proxy), "--cacert", str(ca), "--vo", VO)
    assert (code, line) == (3, f"X509_PROXY UNKNOWN - CA bundle {ca}: {words}")
    config, job = configured(tmp_path, "proxy", {"file": str(proxy), "cacert": str(ca)}, vo=VO)
    run = run_now(config, job)
    assert (run.state, run.reason, run.summary) == (UNKNOWN, "config", line)


def test_an_expired_proxy_stays_critical_whatever_the_ca_bundle(tmp_path: Path,
                                                                pki: Pki) -> None:
    proxy = pki.proxy("expired-ca", pastproxy="13:00", pastac="13:00")
    code, line = plugin("proxy", "--file", str(proxy), "--cacert", str(tmp_path / "nothing"))
    assert code == 2 and "proxy expired" in line, line
