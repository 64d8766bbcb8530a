"""The checkout stays clean: a test that writes into the working tree (a relative path, an empty
--textfile or --state-dir, which are the current directory) fails the session. Files already
there before the session (an operator's own) are not counted."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def untracked() -> set[str]:
    """Files git does not know and does not ignore, relative to the checkout (empty when the
    tree is no git checkout, e.g. an unpacked release)."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--others",
                              "--exclude-standard"], capture_output=True, check=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {name for name in out.decode(errors="replace").split("\0") if name}
