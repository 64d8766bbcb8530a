"""Reading the VOMS attribute certificates (RFC 5755 ACs) that a proxy carries in extension
1.3.6.1.4.1.8005.100.100.5. cryptography does not parse ACs, so pyasn1-modules' RFC 5755
definitions do the decoding; only what an operator needs is kept."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.der import decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_modules import rfc5755

AC_EXTENSION = "1.3.6.1.4.1.8005.100.100.5"
_VOMS_ATTRIBUTES = "1.3.6.1.4.1.8005.100.100.4"
_SHORT = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
          "2.5.4.11": "OU", "0.9.2342.19200300.100.1.25": "DC",
          "0.9.2342.19200300.100.1.1": "UID", "1.2.840.113549.1.9.1": "emailAddress"}
_AC_SEQUENCE = univ.SequenceOf(componentType=univ.SequenceOf(
    componentType=rfc5755.AttributeCertificate()))


class AcError(Exception):
    """The AC extension cannot be read."""


@dataclass(frozen=True)
class VomsAC:
    vo: str
    fqans: tuple[str, ...]
    issuer: str
    holder: str
    not_before: dt.datetime
    not_after: dt.datetime
    uri: str


def _slash_dn(name: Any) -> str:
    """OpenSSL's one-line form (/DC=org/CN=x) of an RFC 5280 Name from pyasn1."""
    parts = []
    for rdn in name["rdnSequence"]:
        for atv in rdn:
            oid = str(atv["type"])
            value, _ = decoder.decode(bytes(atv["value"]))
            parts.append(f"/{_SHORT.get(oid, oid)}={value}")
    return "".join(parts)


def _first_dn(general_names: Any) -> str:
    for gn in general_names:
        if gn.getName() == "directoryName":
            return _slash_dn(gn["directoryName"])
    return ""


def _time(value: Any) -> dt.datetime:
    when: dt.datetime = value.asDateTime
    return when.astimezone(dt.UTC)


def _one(ac: Any) -> VomsAC:
    info = ac["acinfo"]
    issuer = info["issuer"]
    issuer_names = issuer["v2Form"]["issuerName"] if issuer.getName() == "v2Form" \
        else issuer["v1Form"]
    holder = _first_dn(info["holder"]["baseCertificateID"]["issuer"]) \
        if info["holder"]["baseCertificateID"].isValue else ""
    vo, uri, fqans = "", "", []
    for attr in info["attributes"]:
        if str(attr["type"]) != _VOMS_ATTRIBUTES:
            continue
        for raw in attr["values"]:
            ietf, _ = decoder.decode(bytes(raw), asn1Spec=rfc5755.IetfAttrSyntax())
            for gn in ietf["policyAuthority"]:
                if gn.getName() == "uniformResourceIdentifier":
                    vo, _, uri = str(gn["uniformResourceIdentifier"]).partition("://")
            fqans += [bytes(v["octets"]).decode("utf-8", "replace") for v in ietf["values"]
                      if v.getName() == "octets"]
    period = info["attrCertValidityPeriod"]
    return VomsAC(vo, tuple(fqans), _first_dn(issuer_names), holder,
                  _time(period["notBeforeTime"]), _time(period["notAfterTime"]), uri)


def read_acs(extension_value: bytes) -> tuple[VomsAC, ...]:
    """Every AC in the extension's value (DER)."""
    try:
        outer, _ = decoder.decode(extension_value, asn1Spec=_AC_SEQUENCE)
        return tuple(_one(ac) for group in outer for ac in group)
    except (PyAsn1Error, KeyError, ValueError) as exc:
        raise AcError(f"unreadable VOMS attribute certificate ({type(exc).__name__})") from None
