"""Access tokens for tests: JWTs with the claims a test needs, signed by nobody (fedprobe reads
the expiry without trusting the signature) — or by an `Issuer`, a local OIDC provider's signing
key, for servers that do check the signature."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    """base64url without padding, as a JWT part."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(claims: dict[str, object]) -> str:
    """A JWT with these claims."""
    return ".".join([b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()),
                     b64url(json.dumps(claims).encode()), "c2lnbmF0dXJl"])


def expiring_in(seconds: float) -> str:
    """A JWT that expires `seconds` from now (negative: expired)."""
    return jwt({"iss": "https://aai.example.org", "sub": "u",
                "exp": int(time.time() + seconds)})


class Issuer:
    """A local OIDC provider's signing side: RS256 access tokens with EGI Check-in's claims;
    its public key in a PEM file is what a resource server verifies them with."""

    def __init__(self, url: str, directory: Path, kid: str = "test-key-1") -> None:
        self.url, self.kid = url, kid
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key_file = directory / f"{kid}.pub.pem"
        self.public_key_file.write_bytes(self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def token(self, sub: str, entitlements: list[str], lifetime: float = 3600,
              issuer: str | None = None) -> str:
        """A signed access token for sub carrying these eduperson_entitlement values."""
        now = int(time.time())
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.kid}).encode())
        claims = {"iss": issuer or self.url, "sub": sub, "iat": now, "exp": int(now + lifetime),
                  "scope": "openid profile eduperson_entitlement",
                  "eduperson_entitlement": entitlements}
        body = b64url(json.dumps(claims).encode())
        signature = self._key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(),
                                   hashes.SHA256())
        return f"{header}.{body}.{b64url(signature)}"
