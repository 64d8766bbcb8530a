"""Reading an X509 proxy file without voms-clients (cryptography): the chain, subjects, validity,
RFC 3820 proxy type, the VOMS ACs — and verifying the chain against a CA bundle or a hashed
CA directory (IGTF /etc/grid-security/certificates). The private key is only checked to be
present and matching; it is never kept."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from probes import files
from probes.credentials.voms_ac import AC_EXTENSION, AcError, VomsAC, read_acs

_PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
_POLICIES = {"1.3.6.1.5.5.7.21.1": "impersonation", "1.3.6.1.5.5.7.21.2": "independent",
             "1.3.6.1.4.1.3536.1.1.1.9": "limited"}
_SHORT = {"commonName": "CN", "countryName": "C", "localityName": "L",
          "stateOrProvinceName": "ST", "organizationName": "O",
          "organizationalUnitName": "OU", "domainComponent": "DC", "userId": "UID",
          "emailAddress": "emailAddress"}


class ProxyError(Exception):
    """A proxy file that cannot be used; one line naming the file and what is wrong."""


class CaError(Exception):
    """The CA bundle or directory (what configures the check, not what is checked) is missing,
    unreadable or holds no CA certificate."""


# What cryptography raises for damaged input, often only when a field is first read.
_DAMAGED = (ValueError, TypeError, IndexError, KeyError, UnsupportedAlgorithm,
            x509.InvalidVersion)


def _damaged(path: Path, exc: Exception) -> ProxyError:
    return ProxyError(f"{path}: damaged, cannot be parsed ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:120] if str(exc) else 'no detail'})")


@dataclass(frozen=True)
class ProxyInfo:
    path: str
    subject: str
    issuer: str
    identity: str
    proxy_type: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_bits: int
    chain: tuple[str, ...]
    acs: tuple[VomsAC, ...]

    def time_left(self, now: dt.datetime | None = None) -> float:
        """Seconds until the proxy expires (negative when expired)."""
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).total_seconds()


def slash_dn(name: x509.Name) -> str:
    """The /DC=org/CN=x form grid tools print (RDNs in certificate order)."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            short = _SHORT.get(attr.oid._name, attr.oid.dotted_string)
            parts.append(f"/{short}={attr.value!s}")
    return "".join(parts)


def _proxy_type(cert: x509.Certificate) -> str:
    try:
        ext = cert.extensions.get_extension_for_oid(_PROXY_CERT_INFO)
    except x509.ExtensionNotFound:
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        last = str(cn[-1].value) if cn else ""
        return {"proxy": "legacy globus proxy", "limited proxy": "legacy limited proxy"}.get(
            last, "not a proxy")
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    for oid, kind in _POLICIES.items():
        encoded = x509.ObjectIdentifier(oid).dotted_string
        if _oid_der(encoded) in raw:
            return f"RFC 3820 {kind} proxy"
    return "RFC 3820 proxy"


def _oid_der(dotted: str) -> bytes:
    """DER content bytes of an OID (to find the policy language inside ProxyCertInfo)."""
    nums = [int(x) for x in dotted.split(".")]
    out = bytearray([40 * nums[0] + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def _key_bits(cert: x509.Certificate) -> int:
    key = cert.public_key()
    return key.key_size if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) else 0


def check_permissions(path: Path) -> None:
    """A proxy holds a private key: it must be a regular file readable by its owner only."""
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise ProxyError(f"{path}: not a regular file")
    if st.st_mode & 0o077:
        raise ProxyError(f"{path}: unsafe permissions {oct(st.st_mode & 0o777)} (must be 0600 "
                         "or stricter: the file holds a private key)")
    if st.st_uid != os.geteuid():
        raise ProxyError(f"{path}: owned by uid {st.st_uid}, not by this user")


def read_proxy(path: str | Path) -> ProxyInfo:
    """Parse a proxy file (certificates and key, PEM); ProxyError naming what is wrong."""
    path = Path(path)
    data = _read(path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except (ValueError, x509.InvalidVersion):
        raise ProxyError(f"{path}: no PEM certificate in it") from None
    if b"PRIVATE KEY-----" not in data:
        raise ProxyError(f"{path}: no private key in it (not a proxy file)")
    try:
        return _parse(path, data, certs)
    except (ProxyError, AcError):
        raise
    except _DAMAGED as exc:  # the certificates are parsed lazily: a damaged field shows here
        raise _damaged(path, exc) from None


def _read(path: Path) -> bytes:
    try:
        return files.read_bytes(path, files.SECRET_LIMIT)
    except files.FileProblem as exc:
        raise ProxyError(f"{path}: {exc}") from None


def _parse(path: Path, data: bytes, certs: list[x509.Certificate]) -> ProxyInfo:
    _check_key(path, data, certs[0])
    leaf = certs[0]
    identity = next((c for c in certs if _proxy_type(c) == "not a proxy"), certs[-1])
    acs: tuple[VomsAC, ...] = ()
    try:
        ext = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(AC_EXTENSION))
        if isinstance(ext.value, x509.UnrecognizedExtension):
            acs = read_acs(ext.value.value)
    except x509.ExtensionNotFound:
        pass
    except AcError as exc:
        raise ProxyError(f"{path}: {exc}") from None
    for cert in certs:  # every field a check reads, parsed now, not later in a judge
        _ = (slash_dn(cert.subject), slash_dn(cert.issuer), _proxy_type(cert),
             cert.not_valid_before_utc, cert.not_valid_after_utc, cert.public_key())
    return ProxyInfo(str(path), slash_dn(leaf.subject), slash_dn(leaf.issuer),
                     slash_dn(identity.subject), _proxy_type(leaf),
                     leaf.not_valid_before_utc, leaf.not_valid_after_utc, _key_bits(leaf),
                     tuple(slash_dn(c.subject) for c in certs), acs)


def _check_key(path: Path, data: bytes, leaf: x509.Certificate) -> None:
    try:
        start = data.index(b"-----BEGIN", max(0, data.index(b"PRIVATE KEY-----") - 40))
        end = data.index(b"PRIVATE KEY-----", data.index(b"-----END", start)) + 16
        key = serialization.load_pem_private_key(data[start:end], password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ProxyError(f"{path}: the private key cannot be read (encrypted or damaged)"
                         ) from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != leaf.public_key().public_bytes(der, pub):
        raise ProxyError(f"{path}: the private key does not match the proxy certificate")


def _anchors(cacert: Path) -> list[x509.Certificate]:
    """The CA certificates of a bundle file or a hashed CA directory (CaError if there are
    none: a check against no CA would say every chain is untrusted)."""
    if not cacert.exists():
        raise CaError(f"CA bundle {cacert}: no such file or directory")
    try:
        names = sorted(cacert.iterdir()) if cacert.is_dir() else [cacert]
    except OSError as exc:
        raise CaError(f"CA directory {cacert}: cannot read: {exc.strerror}") from None
    found: list[x509.Certificate] = []
    for f in names:
        hashed = f.name[-2:-1] == "." and f.name[-1:].isdigit()  # <hash>.0 in a CA directory
        if f.suffix in (".pem", ".crt") or hashed or not cacert.is_dir():
            try:
                certs = x509.load_pem_x509_certificates(files.read_bytes(f, files.CA_LIMIT))
                found += [c for c in certs if c.subject is not None]  # damaged: ValueError
            except (ValueError, x509.InvalidVersion, files.FileProblem):
                continue
    if not found:
        raise CaError(f"CA bundle {cacert}: no readable CA certificate in it")
    return found


def verify_chain(path: str | Path, cacert: str | Path,
                 now: dt.datetime | None = None) -> None:
    """Check every signature up to a CA in ``cacert`` and every certificate's validity
    (ProxyError: the proxy's fault; CaError: the CA bundle's)."""
    now = now or dt.datetime.now(dt.UTC)
    anchors = _anchors(Path(cacert))
    try:
        _verify(Path(path), anchors, cacert, now)
    except _DAMAGED as exc:
        raise _damaged(Path(path), exc) from None


def _verify(path: Path, anchors: list[x509.Certificate], cacert: str | Path,
            now: dt.datetime) -> None:
    try:
        certs = x509.load_pem_x509_certificates(_read(path))
    except (ValueError, x509.InvalidVersion):
        raise ProxyError(f"{path}: no PEM certificate in it") from None
    for cert in certs:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ProxyError(f"{path}: certificate {slash_dn(cert.subject)} is not valid now "
                             f"(valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                             f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)")
    for child, parent in itertools.pairwise(certs):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise ProxyError(f"{path}: {slash_dn(child.subject)} is not signed by "
                             f"{slash_dn(parent.subject)}") from None
    top = certs[-1]
    for anchor in anchors:
        if anchor.subject != top.issuer:
            continue
        try:
            top.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        if anchor.not_valid_before_utc <= now <= anchor.not_valid_after_utc:
            return
    raise ProxyError(f"{path}: untrusted chain: issuer {slash_dn(top.issuer)} of "
                     f"{slash_dn(top.subject)} is not a CA in {cacert}")
