"""Whether a CA bundle file or hashed CA directory (``cacert``) can be used at all: it configures
the run, so a missing, unreadable or empty one is the configuration's fault (UNKNOWN), found
before any request — not a TLS failure blamed on the site."""

from __future__ import annotations

import re
from pathlib import Path

from probes import files

_PEM = b"-----BEGIN CERTIFICATE-----"
_HASHED = re.compile(r"^[0-9a-f]{8}\.\d+$")  # OpenSSL's <subject hash>.<n>


def problem(cacert: str) -> str | None:
    """What is wrong with it, in a few words (None: usable)."""
    path = Path(cacert).expanduser()
    if not path.exists():
        return "no such file or directory"
    if path.is_dir():
        try:
            hashed = [f for f in path.iterdir() if _HASHED.match(f.name)]
        except OSError as exc:
            return f"cannot read the directory: {exc.strerror}"
        if not hashed:
            return ("no hashed CA certificate in the directory (<hash>.0 names: run "
                    "openssl rehash on it)")
        return None
    try:
        data = files.read_bytes(path, files.CA_LIMIT)
    except files.FileProblem as exc:
        return str(exc)
    if _PEM not in data:
        return "no PEM certificate in it"
    return None
