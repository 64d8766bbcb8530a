"""A test PKI (CA, user, VOMS server) made with cryptography, and real VOMS proxies made from it
with Debian's voms-proxy-fake — the same kind of files a grid user's voms-proxy-init writes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

VO = "vo.example.org"
FQAN = f"/{VO}/Role=NULL/Capability=NULL"


def _name(*parts: tuple[str, str]) -> x509.Name:
    oids = {"O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "CN": NameOID.COMMON_NAME, "DC": NameOID.DOMAIN_COMPONENT}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in parts])


def _cert(subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey,
          signer: rsa.RSAPrivateKey, ca: bool, days: int = 30) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   signer.public_key()), critical=False))
    usage = dict(digital_signature=True, content_commitment=False, key_encipherment=not ca,
                 data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                 encipher_only=False, decipher_only=False)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: rsa.RSAPrivateKey | None = None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path = path.with_suffix(".key")
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
        os.chmod(key_path, 0o400)


@dataclass(frozen=True)
class Pki:
    root: Path
    certdir: Path
    user_cert: Path
    user_key: Path
    voms_cert: Path
    voms_key: Path
    user_dn: str

    def proxy(self, name: str, *, vo: str | None = VO, fqan: str = FQAN, hours: int = 12,
              vomslife: int | None = None, pastproxy: str | None = None,
              pastac: str | None = None) -> Path:
        """A real RFC 3820 proxy made by voms-proxy-fake (no VOMS AC when vo is None)."""
        out = self.root / name
        cmd = ["voms-proxy-fake", "-rfc", "-cert", str(self.user_cert), "-key",
               str(self.user_key), "-certdir", str(self.certdir), "-out", str(out),
               "-hours", str(hours), "-q"]
        if vo is not None:
            cmd += ["-voms", vo, "-fqan", fqan, "-uri", "voms.example.org:15000",
                    "-hostcert", str(self.voms_cert), "-hostkey", str(self.voms_key),
                    "-vomslife", str(vomslife if vomslife is not None else hours)]
        if pastproxy:
            cmd += ["-pastproxy", pastproxy]
        if pastac:
            cmd += ["-pastac", pastac]
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              env={"PATH": os.environ["PATH"], "HOME": str(home)})
        if proc.returncode != 0:
            raise RuntimeError(f"voms-proxy-fake failed: {proc.stderr or proc.stdout}")
        os.chmod(out, 0o600)
        return out


def encrypted_key(pki: Pki, path: Path, passphrase: str) -> Path:
    """The user's key again, encrypted with a passphrase (as a robot's key file would be)."""
    key = serialization.load_pem_private_key(pki.user_key.read_bytes(), password=None)
    path.write_bytes(key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(passphrase.encode())))
    os.chmod(path, 0o400)
    return path


def make_pki(root: Path) -> Pki:
    """CA, user certificate and VOMS host certificate under root; a hashed CA directory."""
    root.mkdir(parents=True, exist_ok=True)
    certdir = root / "certificates"
    certdir.mkdir(exist_ok=True)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name(("DC", "org"), ("DC", "example"), ("CN", "fedprobe Test CA"))
    ca = _cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    _write(certdir / "testca.pem", ca)
    user_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    user_name = _name(("DC", "org"), ("DC", "example"), ("O", "Robots"),
                      ("CN", "fedprobe robot"))
    _write(root / "usercert.pem", _cert(user_name, ca_name, user_key, ca_key, ca=False),
           user_key)
    voms_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    voms_name = _name(("DC", "org"), ("DC", "example"), ("CN", "voms.example.org"))
    _write(root / "vomscert.pem", _cert(voms_name, ca_name, voms_key, ca_key, ca=False),
           voms_key)
    subprocess.run(["openssl", "rehash", str(certdir)], check=True, capture_output=True)
    return Pki(root, certdir, root / "usercert.pem", root / "usercert.key",
               root / "vomscert.pem", root / "vomscert.key",
               "/DC=org/DC=example/O=Robots/CN=fedprobe robot")
