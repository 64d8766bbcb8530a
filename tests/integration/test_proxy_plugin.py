"""Golden-output tests of `fedprobe proxy` as a subprocess, on real proxies from voms-proxy-fake:
every state and every bad input, renewal with a passphrase that never shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pki import FQAN, VO, Pki, encrypted_key, make_pki

LINE = re.compile(r"^X509_PROXY (OK|WARNING|CRITICAL|UNKNOWN) - (.+?)(?: \| (.*))?$")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def proxy(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "probes", "proxy", *args], capture_output=True,
                          text=True, timeout=60, env=env or dict(os.environ))
    first = proc.stdout.splitlines()[0]
    match = LINE.match(first)
    assert match, proc.stdout + proc.stderr
    assert {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[match.group(1)] == \
        proc.returncode
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.returncode, match.group(2), proc.stdout


def test_ok_with_vo_fqan_and_chain(pki: Pki) -> None:
    path = pki.proxy("ok24", hours=24)
    code, summary, out = proxy("--file", str(path), "--cacert", str(pki.certdir), "--vo", VO,
                               "--fqan", FQAN, "-v")
    assert code == 0, out
    assert re.fullmatch(rf"proxy {path} of {re.escape(pki.user_dn)} valid 2[34]h\d\dm; VO {VO} "
                        rf"\({re.escape(FQAN)}\) valid 2[34]h\d\dm", summary)
    assert re.search(r"\| ac_time_left=\d+s;43200:;10800: proxy_time_left=\d+s;43200:;10800:",
                     out)
    assert "type     RFC 3820 impersonation proxy, 2048 bits" in out


@pytest.mark.parametrize("make,args,code,needle", [
    ({"hours": 6}, [], 1, "proxy has 5h5\\dm left \\(warning range 43200:\\)"),
    ({"hours": 2}, [], 2, "proxy has 1h5\\dm left \\(critical range 10800:\\)"),
    ({"pastproxy": "13:00", "pastac": "13:00"}, [], 2, "proxy expired 1h0\\dm ago"),
    ({"hours": 24, "vo": None}, ["--vo", VO], 2, "no VOMS attributes for VO vo.example.org "
                                               "\\(the proxy has: none\\)"),
    ({"hours": 24, "vo": "other.example.org", "fqan": "/other.example.org"}, ["--vo", VO], 2,
     "\\(the proxy has: other.example.org\\)"),
    ({"hours": 24, "vomslife": 1, "pastac": "2:00"}, ["--vo", VO], 2,
     "VOMS AC for vo.example.org expired"),
    ({"hours": 24}, ["--vo", VO, "--fqan", f"/{VO}/Role=admin"], 2, "FQAN /vo.example.org/Role="
                                                                    "admin missing"),
    ({"hours": 24}, ["-w", "100000:", "-c", "10:"], 1, "warning range 100000:"),
])
def test_states(pki: Pki, make: dict[str, object], args: list[str], code: int,
                needle: str) -> None:
    path = pki.proxy(f"p{abs(hash(str(make)))}", **make)  # type: ignore[arg-type]
    got, summary, out = proxy("--file", str(path), *args)
    assert got == code, out
    assert re.search(needle, summary), summary


def test_untrusted_chain(pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    path = pki.proxy("untrusted", hours=24)
    code, summary, _ = proxy("--file", str(path), "--cacert", str(other.certdir))
    assert code == 2 and "untrusted chain" in summary


def test_bad_files(pki: Pki, tmp_path: Path) -> None:
    code, summary, _ = proxy("--file", str(tmp_path / "missing"))
    assert code == 2 and summary == f"{tmp_path / 'missing'}: no such file"
    garbage = tmp_path / "garbage"
    garbage.write_text("hello\n")
    code, summary, _ = proxy("--file", str(garbage))
    assert code == 2 and "no PEM certificate" in summary
    loose = pki.proxy("loose", hours=24)
    os.chmod(loose, 0o644)
    code, summary, _ = proxy("--file", str(loose))
    assert code == 2 and "unsafe permissions 0o644" in summary


def test_default_path_from_environment(pki: Pki) -> None:
    path = pki.proxy("fromenv", hours=24)
    code, summary, _ = proxy(env={**os.environ, "X509_USER_PROXY": str(path)})
    assert code == 0 and str(path) in summary


@pytest.mark.parametrize("args", [["-w", "bogus"], ["--nonsense"], ["-t", "x"]])
def test_bad_arguments_are_unknown(args: list[str]) -> None:
    code, summary, _ = proxy(*args)
    assert code == 3 and "\n" not in summary


def test_renewal_with_passphrase(pki: Pki, tmp_path: Path) -> None:
    canary = "canary-renew-pass-8Hw"
    enc = encrypted_key(pki, tmp_path / "robot.key", canary)
    secret = tmp_path / "pass"
    secret.write_text(canary + "\n")
    path = pki.proxy("renewme", hours=1)
    renew = ["--file", str(path), "--cacert", str(pki.certdir), "--renew", "--cert",
             str(pki.user_cert), "--key", str(enc), "--passphrase-file", str(secret)]
    code, summary, out = proxy(*renew)
    assert code == 0, out
    assert "renewed at" in summary and "valid 23h5" in summary
    assert canary not in out
    code, summary, out = proxy(*renew)  # not due: nothing renewed
    assert code == 0 and "renewed" not in summary
    wrong = tmp_path / "wrong"
    wrong.write_text("not-" + canary)
    short = pki.proxy("renewfail", hours=1)
    code, summary, out = proxy("--file", str(short), "--renew", "--cert", str(pki.user_cert),
                               "--key", str(enc), "--passphrase-file", str(wrong))
    assert code == 2 and "renewal failed: voms-proxy-init" in summary
    assert canary not in out


def test_cross_check_with_voms_proxy_info(pki: Pki, tmp_path: Path) -> None:
    path = pki.proxy("cross", hours=24)
    code, summary, _ = proxy("--file", str(path), "--cacert", str(pki.certdir), "--vo", VO,
                             "--with-voms-proxy-info")
    assert code == 0, summary
    bare_path = tmp_path / "bin"
    bare_path.mkdir()
    (bare_path / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bare_path)}  # no voms-clients on this PATH
    code, summary, _ = proxy("--file", str(path), "--with-voms-proxy-info", env=env)
    assert code == 3 and summary == \
        "'voms-proxy-info' not found: install the Debian package voms-clients"
