"""SLOW (about a minute; Debian's mirror): dev/fresh-root — a minbase Debian 12 root, where
dev/system-deps must install every program of the registry (probes/programs.py). Catches what
this machine hides: packages installed by hand, by earlier work or as another package's
dependency."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.root]


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot and mounts need root (CI is root)")
def test_a_fresh_debian_root_gets_every_registered_program() -> None:
    proc = subprocess.run([str(ROOT / "dev/fresh-root")], capture_output=True, text=True,
                          timeout=1200, cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "every program of the registry" in out
