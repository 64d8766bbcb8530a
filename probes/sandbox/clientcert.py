"""Who a client certificate says the client is: the identity DN (for an RFC 3820 proxy, its
issuer — the user certificate) and the VOMS FQANs it carries.

The sandbox is an independent oracle, so this does not use the probe's AC parser: it looks for
the FQAN strings (DER OCTET STRINGs starting with "/") inside the VOMS AC extension, which is
all Keystone's VOMS mapping ever used."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509

_VOMS_AC = x509.ObjectIdentifier("1.3.6.1.4.1.8005.100.100.5")
_PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
_FQAN = re.compile(r"^/[A-Za-z0-9._-]+(/[A-Za-z0-9._=/-]*)?$")
_SHORT = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
          "domainComponent": "DC", "countryName": "C", "localityName": "L"}


@dataclass(frozen=True)
class ClientIdentity:
    dn: str
    fqans: tuple[str, ...]

    @property
    def vos(self) -> tuple[str, ...]:
        """The VOs the FQANs belong to (their first path element)."""
        return tuple(dict.fromkeys(f.split("/")[1] for f in self.fqans))


def _dn(name: x509.Name) -> str:
    return "".join(f"/{_SHORT.get(a.oid._name, a.oid.dotted_string)}={a.value!s}"
                   for rdn in name.rdns for a in rdn)


def _fqans(raw: bytes) -> list[str]:
    found, i = [], 0
    while i < len(raw) - 2:
        if raw[i] == 0x04 and raw[i + 1] < 0x80 and raw[i + 2:i + 3] == b"/":
            candidate = raw[i + 2:i + 2 + raw[i + 1]]
            try:
                text = candidate.decode("ascii")
            except UnicodeDecodeError:
                text = ""
            if _FQAN.match(text):
                found.append(text)
                i += 2 + raw[i + 1]
                continue
        i += 1
    return found


def identify(pem: str) -> ClientIdentity:
    """The identity in a PEM client certificate (ValueError when it cannot be read)."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        cert.extensions.get_extension_for_oid(_PROXY_CERT_INFO)
        dn = _dn(cert.issuer)  # an RFC 3820 proxy: the user is its issuer
    except x509.ExtensionNotFound:
        dn = _dn(cert.subject)
    try:
        ext = cert.extensions.get_extension_for_oid(_VOMS_AC).value
        raw = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
    except x509.ExtensionNotFound:
        raw = b""
    return ClientIdentity(dn, tuple(_fqans(raw)))
