"""A throwaway Debian 12 root for installing the .deb (tests/integration/test_packages.py): a
minbase root with what the package depends on already there (python3.11, adduser) and systemd
(its units are checked there), made once with mmdebstrap from Debian's mirror and cached as a
tarball (remade weekly, or when the package list changes); each test unpacks its own copy.

Commands run in it through `chroot`, inside a mount namespace of their own (with /proc, the
basic /dev nodes and a /dev/shm), which vanishes with them whatever happens. chroot shares the
host's network namespace: the sandbox on loopback is reachable from inside."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

SUITE = "bookworm"
MIRRORS = (f"deb http://deb.debian.org/debian {SUITE} main",
           f"deb http://deb.debian.org/debian {SUITE}-updates main",
           f"deb http://deb.debian.org/debian-security {SUITE}-security main")
# what the .deb depends on (so that apt installs it without a mirror), and systemd for
# `systemd-analyze verify --root`
PACKAGES = ("python3.11", "adduser", "procps", "systemd", "iputils-ping")
WEEK = 7 * 24 * 3600
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Run by `sh -euc` inside `unshare --mount`: $1 is the root, the rest the command.
_IN_ROOT = r"""
root=$1; shift
mount -t proc proc "$root/proc"
for d in null zero full random urandom tty; do
    [ -e "$root/dev/$d" ] || touch "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
done
mkdir -p "$root/dev/shm" "$root/dev/pts"
mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
[ -e "$root/dev/ptmx" ] || touch "$root/dev/ptmx"
mount --bind "$root/dev/pts/ptmx" "$root/dev/ptmx"
exec env -i PATH="$FEDPROBE_ROOT_PATH" HOME=/root LANG=C.UTF-8 chroot "$root" "$@"
"""


def cache_dir() -> Path:
    base = os.environ.get("FEDPROBE_CACHE") or \
        str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fedprobe")
    return Path(base) / "package-root"


def tarball() -> Path:
    """The cached root, made first when missing, a week old, or of another package list."""
    key = hashlib.sha256(f"{SUITE} {MIRRORS} {PACKAGES}".encode()).hexdigest()[:12]
    path = cache_dir() / f"{SUITE}-{key}.tar"
    if path.exists() and time.time() - path.stat().st_mtime < WEEK:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    new = path.with_suffix(".new.tar")
    log = path.with_suffix(".log")
    with log.open("w") as out:
        done = subprocess.run(["mmdebstrap", "--variant=minbase",
                               f"--include={','.join(PACKAGES)}", SUITE, str(new), *MIRRORS],
                              stdout=out, stderr=subprocess.STDOUT, timeout=1200, check=False)
    if done.returncode != 0:
        tail = log.read_text().splitlines()[-15:]
        raise RuntimeError("mmdebstrap could not make the Debian root (log: "
                           f"{log}):\n" + "\n".join(tail))
    new.rename(path)
    for old in path.parent.glob(f"{SUITE}-*.tar"):
        if old != path:
            old.unlink()
    return path


def unpack(into: Path) -> Path:
    """A fresh copy of the cached root in INTO."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(into), "-xf", str(tarball())], check=True, timeout=300)
    return into


def run(root: Path, *command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """COMMAND inside ROOT (chroot in a mount namespace of its own), output captured."""
    env = {**os.environ, "FEDPROBE_ROOT_PATH": PATH}
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--fork",
                           "sh", "-euc", _IN_ROOT, "debroot", str(root), *command],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env=env)
