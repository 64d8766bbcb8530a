"""Access tokens for tests: JWTs with the claims a test needs, signed by nobody (fedprobe reads
the expiry without trusting the signature)."""

from __future__ import annotations

import base64
import json
import time


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
