"""X509 proxies made by the real voms-proxy-fake: the pure-Python reader cross-checked against
voms-proxy-info, chain verification against a hashed CA directory, bad files named clearly, and
the voms-clients wrappers (init with a passphrase on stdin, info, destroy, failures)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from probes.credentials import vomsclients
from probes.credentials.proxy import ProxyError, check_permissions, read_proxy, verify_chain
from tests.pki import FQAN, VO, Pki, encrypted_key, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("kind", ["ok", "noac", "short", "expired", "ac_expired", "other_vo"])
def test_reader_agrees_with_voms_proxy_info(pki: Pki, kind: str) -> None:
    options = {"ok": {}, "noac": {"vo": None}, "short": {"hours": 2},
               "expired": {"pastproxy": "13:00", "pastac": "13:00"},
               "ac_expired": {"vomslife": 1, "pastac": "2:00"},
               "other_vo": {"vo": "other.example.org", "fqan": "/other.example.org"}}[kind]
    path = pki.proxy(f"x509up_{kind}", **options)  # type: ignore[arg-type]
    ours = read_proxy(path)
    theirs = vomsclients.proxy_info(path, pki.certdir)
    assert (ours.subject, ours.issuer, ours.identity) == (theirs.subject, theirs.issuer,
                                                          theirs.identity)
    assert ours.identity == pki.user_dn
    assert ours.proxy_type == "RFC 3820 impersonation proxy" and "RFC" in theirs.type
    assert ours.key_bits == theirs.strength
    assert abs(max(0, ours.time_left()) - theirs.timeleft) <= 2
    assert [a.vo for a in ours.acs] == [v.vo for v in theirs.vos]
    for ac, vo in zip(ours.acs, theirs.vos, strict=True):
        assert list(ac.fqans) == list(vo.attributes)
        assert (ac.issuer, ac.holder, ac.uri) == (vo.issuer, vo.subject, vo.uri)
        left = (ac.not_after - __import__("datetime").datetime.now(ac.not_after.tzinfo))
        assert abs(max(0, left.total_seconds()) - vo.timeleft) <= 2
    if kind == "ok":
        assert ours.acs[0].vo == VO and ours.acs[0].fqans == (FQAN,)


def test_chain_verification(pki: Pki, tmp_path: Path) -> None:
    good = pki.proxy("x509up_chain")
    verify_chain(good, pki.certdir)
    verify_chain(good, pki.certdir / "testca.pem")  # a bundle file works too
    other = make_pki(tmp_path / "other")
    with pytest.raises(ProxyError, match="untrusted chain: issuer /DC=org/DC=example/CN="
                                         "fedprobe Test CA"):
        verify_chain(good, other.certdir)
    expired = pki.proxy("x509up_chain_expired", pastproxy="13:00", pastac="13:00")
    with pytest.raises(ProxyError, match="is not valid now"):
        verify_chain(expired, pki.certdir)


def test_bad_files_are_named(pki: Pki, tmp_path: Path) -> None:
    cases = {"missing": None, "garbage": b"not a certificate\n",
             "certonly": pki.user_cert.read_bytes()}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ProxyError) as info:
            read_proxy(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    proxy = pki.proxy("x509up_mismatch").read_bytes()
    other_key = pki.voms_key.read_bytes()
    start = proxy.index(b"-----BEGIN RSA PRIVATE KEY") if b"BEGIN RSA PRIVATE" in proxy else \
        proxy.index(b"-----BEGIN PRIVATE KEY")
    end = proxy.index(b"PRIVATE KEY-----", proxy.index(b"-----END", start)) + 16
    mismatched = tmp_path / "mismatch"
    mismatched.write_bytes(proxy[:start] + other_key + proxy[end:])
    with pytest.raises(ProxyError, match="does not match"):
        read_proxy(mismatched)


def test_permissions(pki: Pki) -> None:
    path = pki.proxy("x509up_perm")
    check_permissions(path)
    os.chmod(path, 0o644)
    with pytest.raises(ProxyError, match="unsafe permissions 0o644"):
        check_permissions(path)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def test_init_with_passphrase_on_stdin_info_destroy(pki: Pki, tmp_path: Path) -> None:
    canary = "canary-passphrase-4Tq"
    encrypted = encrypted_key(pki, tmp_path / "userkey.pem", canary)
    out = tmp_path / "x509up_init"
    vomsclients.proxy_init(out, cert=pki.user_cert, key=encrypted, valid="1:00",
                           certdir=pki.certdir, passphrase=canary)
    info = read_proxy(out)
    assert info.identity == pki.user_dn and 3500 < info.time_left() <= 3600
    with pytest.raises(vomsclients.VomsToolError) as err:
        vomsclients.proxy_init(tmp_path / "x", cert=pki.user_cert, key=encrypted,
                               certdir=pki.certdir, passphrase="wrong-" + canary)
    assert canary not in str(err.value)
    vomsclients.proxy_destroy(out)
    assert not out.exists()


def test_tool_failures(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(vomsclients.VomsToolError, match=r"voms-proxy-info2?: .*"):
        vomsclients.proxy_info(tmp_path / "nope", pki.certdir)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hang = bin_dir / "voms-proxy-info2"
    hang.write_text("#!/bin/sh\nexec /bin/sleep 5\n")
    hang.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(vomsclients.VomsToolError, match=r"did not finish within 0\.5s"):
        vomsclients.proxy_info(pki.certdir, timeout=0.5)
    hang.write_text("#!/bin/sh\necho 'something else entirely'\n")
    with pytest.raises(vomsclients.VomsToolError, match="output without subject"):
        vomsclients.proxy_info(pki.certdir)
    hang.unlink()
    with pytest.raises(vomsclients.VomsToolError,
                       match="'voms-proxy-info' not found: install the Debian package "
                             "voms-clients"):
        vomsclients.proxy_info(pki.certdir)
