"""The full-fidelity guest (opt-in, ``guests.qemu.image: debian``): a Debian 12 root filesystem
with real cloud-init, OpenSSH and ifupdown, built with mmdebstrap from Debian's mirror, so the
probe's user-data is proven under cloud-init as it will run at real sites (ConfigDrive
datasource, network from network_data.json, user scripts in the final stage). Slow: ~2 min to
build once (cached like the tiny image), 30-90 s from QEMU start to the user-data under TCG.

    python -m probes.sandbox.qemu.debimage       # build (or find) it, print where it is
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

from probes.sandbox.qemu.guestinit import BOOT_MARKER
from probes.sandbox.qemu.image import (
    ImageError,
    TinyImage,
    cache_root,
    cached,
    candidate,
    kernel_package,
    report,
    run,
)

SUITE = "bookworm"
# what this machine's apt uses too, so the versions in the cache key are the ones installed
SOURCES = ("deb http://deb.debian.org/debian bookworm main",
           "deb http://deb.debian.org/debian bookworm-updates main",
           "deb http://deb.debian.org/debian-security bookworm-security main")
PACKAGES = ("systemd-sysv", "udev", "linux-image-cloud-amd64", "cloud-init", "ifupdown",
            "net-tools", "iproute2", "openssh-server", "wget", "ca-certificates")
DISK_SIZE = "1536M"
BUILDER_VERSION = "1"

# cloud-init: only the config drive (no network datasources to time out on), one fast host key
CLOUD_CFG = """\
datasource_list: [ConfigDrive, None]
ssh_genkeytypes: [ed25519]
"""
# The sandbox's boot marker (BUILD -> ACTIVE) once the network is up, as the tiny image prints.
MARKER_UNIT = """\
[Unit]
Description=fedprobe sandbox boot marker
Wants=network-online.target
After=network-online.target cloud-init-local.service networking.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/fedprobe-boot-marker

[Install]
WantedBy=multi-user.target
"""

MARKER_SCRIPT = f"""\
#!/bin/sh
echo "{BOOT_MARKER}: $(ip -o addr show scope global | awk '{{print $4}}' | tr '\\n' ' ')" \\
    > /dev/ttyS0
"""


def versions() -> tuple[tuple[str, str], ...]:
    """The versions that decide the image's content."""
    kernel = kernel_package()
    return tuple((p, candidate(p)) for p in (kernel, "cloud-init", "systemd", "openssh-server"))


def _key(pkgs: tuple[tuple[str, str], ...]) -> str:
    h = hashlib.sha256()
    for name, version in pkgs:
        h.update(f"{name}={version}\n".encode())
    h.update(f"{SUITE} {SOURCES} {PACKAGES} {DISK_SIZE} {BUILDER_VERSION}".encode())
    h.update((CLOUD_CFG + MARKER_UNIT + MARKER_SCRIPT).encode())
    return h.hexdigest()[:16]


def ensure(root: Path | None = None) -> TinyImage:
    """The cached Debian cloud-init image, built first if needed."""
    root = root or cache_root()
    pkgs = versions()
    key = _key(pkgs)
    target = root / f"debian-{key}"
    image = TinyImage(target / "vmlinuz", target / "initrd.img", key, pkgs, target / "root.img",
                      ("root=/dev/vda", "rw"))
    return cached(root, "debian-", image, _build)


def _build(work: Path) -> None:
    rootfs = work / "rootfs"
    (work / "99-fedprobe.cfg").write_text(CLOUD_CFG)
    (work / "fedprobe-boot-marker.service").write_text(MARKER_UNIT)
    (work / "fedprobe-boot-marker").write_text(MARKER_SCRIPT)
    hooks = [
        f'install -m 755 {work / "fedprobe-boot-marker"} "$1/usr/local/sbin/"',
        f'cp {work / "99-fedprobe.cfg"} "$1/etc/cloud/cloud.cfg.d/99-fedprobe.cfg"',
        f'cp {work / "fedprobe-boot-marker.service"} "$1/etc/systemd/system/"',
        'chroot "$1" systemctl enable fedprobe-boot-marker.service',
        'chroot "$1" systemctl set-default multi-user.target',
        'echo "fedprobe-guest" > "$1/etc/hostname"',
    ]
    run("mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(PACKAGES)}",
        *(f"--customize-hook={h}" for h in hooks), SUITE, str(rootfs), *SOURCES,
        timeout=1200)
    out = work / "out"
    out.mkdir()
    boot = rootfs / "boot"
    kernels, initrds = sorted(boot.glob("vmlinuz-*")), sorted(boot.glob("initrd.img-*"))
    if not kernels or not initrds:
        raise ImageError("the Debian root filesystem has no kernel or initramfs in /boot")
    shutil.copyfile(kernels[-1], out / "vmlinuz")
    shutil.copyfile(initrds[-1], out / "initrd.img")
    disk = out / "root.img"
    run("truncate", "-s", DISK_SIZE, str(disk))
    run("mke2fs", "-q", "-t", "ext4", "-L", "root", "-d", str(rootfs), "-F", str(disk))


if __name__ == "__main__":
    sys.exit(report("debian image", ensure))
