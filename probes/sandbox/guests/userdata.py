"""Deciding whether and how user-data runs, the way cloud-init treats a ``#!`` script."""

from __future__ import annotations

import os
from pathlib import Path


def script_of(user_data: bytes | None) -> bytes | None:
    """The user-data if it is a ``#!`` script cloud-init would execute, else None."""
    if user_data and user_data.startswith(b"#!"):
        return user_data
    return None


def write_script(path: Path, script: bytes) -> Path:
    """Write the script executable by its owner only (it may hold anything the user sent)."""
    path.write_bytes(script)
    os.chmod(path, 0o700)
    return path


GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
