"""Reading an OIDC access token file: its text, and when the JWT says it expires — read without
trusting it (the signature is the provider's business; we only want to know the time left)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from pathlib import Path
from typing import Any

from probes import files


class TokenError(Exception):
    """A token file cannot be read, or its token not understood; one line, no token in it."""


def read_text(path: Path, what: str) -> str:
    """The file's text, stripped (what names the file in an error: "token file", a flag)."""
    try:
        return files.read_text(path, files.SECRET_LIMIT).strip()
    except files.FileProblem as exc:
        raise TokenError(f"{what} {path}: {exc}") from None


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (TokenError if the token is not a JWT)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise TokenError("the access token is not a JWT (cannot tell when it expires)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        raise TokenError("the access token's JWT payload cannot be decoded") from None
    if not isinstance(claims, dict):
        raise TokenError("the access token's JWT payload is not an object")
    return claims


def seconds_left(token: str, now: float | None = None) -> float:
    """Seconds until the JWT's ``exp`` (negative when expired)."""
    exp = jwt_claims(token).get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or not math.isfinite(exp):
        raise TokenError("the access token has no numeric exp claim")
    return float(exp) - (now if now is not None else time.time())
