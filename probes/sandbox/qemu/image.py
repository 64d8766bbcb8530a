"""The tiny guest image: Debian's cloud kernel and an initramfs of busybox-static, the few
modules the guest needs and fedprobe's /init — built from the two Debian packages only
(``apt-get download``, nothing from anywhere else), reproducibly (sorted entries, fixed
timestamps and owners), and cached under a key made of the package versions and the init script,
so it is built once per kernel/busybox update.

    python -m probes.sandbox.qemu.image          # build (or find) it, print where it is
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from probes import programs
from probes.sandbox.qemu.guestinit import INIT

log = logging.getLogger(__name__)

KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
# What the guest needs that the cloud kernel has as modules; their dependencies come along.
MODULES = ("virtio_pci", "virtio_net", "virtio_blk", "virtio_rng", "isofs")
BUILDER_VERSION = "1"


class ImageError(Exception):
    """The image cannot be built here (no apt, package missing, ...); one line."""


@dataclass(frozen=True)
class TinyImage:
    """A bootable guest: kernel and initramfs, and for a full image its root disk."""

    kernel: Path
    initrd: Path
    key: str
    versions: tuple[tuple[str, str], ...]
    disk: Path | None = None      # root filesystem (attached read-only, writes in a snapshot)
    cmdline: tuple[str, ...] = ()  # extra kernel arguments (root=...)


def cache_root() -> Path:
    """$FEDPROBE_CACHE, else $XDG_CACHE_HOME/fedprobe, else ~/.cache/fedprobe."""
    if os.environ.get("FEDPROBE_CACHE"):
        return Path(os.environ["FEDPROBE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fedprobe"


def run(*cmd: str, cwd: Path | None = None, timeout: float = 600) -> str:
    """Run a build tool; ImageError naming it (and, when it is missing, its Debian package) or
    its last line of complaint on failure."""
    try:
        exe = programs.require(cmd[0])
        done = subprocess.run(cmd, executable=exe, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except programs.MissingProgram as exc:
        raise ImageError(str(exc)) from None
    except subprocess.TimeoutExpired:
        raise ImageError(f"{cmd[0]} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise ImageError(f"{cmd[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        err = (done.stderr or done.stdout).strip().splitlines()
        raise ImageError(f"{' '.join(cmd)} failed: {err[-1] if err else done.returncode}")
    return done.stdout


def candidate(package: str) -> str:
    """The version apt would install."""
    for line in run("apt-cache", "policy", package).splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                return version
    raise ImageError(f"Debian package {package} is not available (apt-get update?)")


def kernel_package() -> str:
    """The versioned kernel package the metapackage depends on."""
    for line in run("apt-cache", "depends", KERNEL_PACKAGE).splitlines():
        dep = line.strip()
        if dep.startswith("Depends: linux-image-"):
            return dep.split(":", 1)[1].strip()
    raise ImageError(f"{KERNEL_PACKAGE}: no linux-image dependency found")


def versions() -> tuple[tuple[str, str], ...]:
    """(package, version) of what goes into the image."""
    kernel = kernel_package()
    return ((kernel, candidate(kernel)), (BUSYBOX_PACKAGE, candidate(BUSYBOX_PACKAGE)))


def cache_key(pkgs: tuple[tuple[str, str], ...]) -> str:
    """Changes when a package version, the init script or the module list changes."""
    h = hashlib.sha256()
    for name, version in pkgs:
        h.update(f"{name}={version}\n".encode())
    h.update(INIT.encode())
    h.update(" ".join(MODULES).encode())
    h.update(BUILDER_VERSION.encode())
    return h.hexdigest()[:16]


def ensure(root: Path | None = None) -> TinyImage:
    """The cached image, built first if needed."""
    root = root or cache_root()
    pkgs = versions()
    key = cache_key(pkgs)
    target = root / f"tiny-{key}"
    image = TinyImage(target / "vmlinuz", target / "initrd.gz", key, pkgs)
    return cached(root, "tiny-", image, lambda work: _build(work, pkgs))


def cached(root: Path, prefix: str, image: TinyImage,
           build: Callable[[Path], None]) -> TinyImage:
    """The image if its files are in the cache; else `build(work)` makes them in work/out,
    which becomes the image's directory (a concurrent builder of the same key may win)."""
    target = image.kernel.parent
    if all(p.exists() for p in (image.kernel, image.initrd, image.disk) if p is not None):
        os.utime(target)  # in use: not pruned
        return image
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{prefix}build-", dir=root))
    try:
        build(work)
        try:
            os.rename(work / "out", target)
        except OSError:
            if not target.exists():  # not another builder winning the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    prune(root, prefix, target)
    return image


PRUNE_AFTER = 7 * 86400.0


def prune(root: Path, prefix: str, keep: Path) -> list[Path]:
    """Remove images of this kind not used for PRUNE_AFTER (older package versions)."""
    import time

    removed = []
    for old in root.glob(f"{prefix}*"):
        try:
            stale = old != keep and time.time() - old.stat().st_mtime > PRUNE_AFTER
        except OSError:
            continue
        if stale:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


def _download(work: Path, pkgs: tuple[tuple[str, str], ...]) -> dict[str, Path]:
    debs = work / "debs"
    debs.mkdir()
    fetch = ("apt-get", "download", "-q", "-o", "APT::Sandbox::User=root",
             *(f"{n}={v}" for n, v in pkgs))
    try:
        run(*fetch, cwd=debs)
    except ImageError:  # stale package lists: the mirror has moved on
        run("apt-get", "update", "-qq")
        run(*fetch, cwd=debs)
    found = {}
    for name, _ in pkgs:
        match = sorted(debs.glob(f"{name}_*.deb"))
        if not match:
            raise ImageError(f"apt-get download {name}: no .deb appeared")
        found[name] = match[0]
    return found


def _build(work: Path, pkgs: tuple[tuple[str, str], ...]) -> None:
    debs = _download(work, pkgs)
    kroot, broot = work / "kernel", work / "busybox"
    run("dpkg-deb", "-x", str(debs[pkgs[0][0]]), str(kroot))
    run("dpkg-deb", "-x", str(debs[BUSYBOX_PACKAGE]), str(broot))
    vmlinuz = sorted((kroot / "boot").glob("vmlinuz-*"))
    moddirs = sorted((kroot / "lib/modules").iterdir())
    if not vmlinuz or not moddirs:
        raise ImageError(f"{pkgs[0][0]}: no kernel or modules in the package")
    modules = _modules(moddirs[0])
    busybox = broot / "bin/busybox"
    if not busybox.exists():
        raise ImageError(f"{BUSYBOX_PACKAGE}: no bin/busybox in the package")
    files: dict[str, tuple[int, bytes]] = {
        "init": (0o755, INIT.encode()),
        "bin/busybox": (0o755, busybox.read_bytes()),
        "lib/modules/load-order": (0o644, "".join(f"{p.name}\n" for p in modules).encode()),
    }
    for p in modules:
        files[f"lib/modules/{p.name}"] = (0o644, _module_bytes(p))
    out = work / "out"
    out.mkdir()
    shutil.copyfile(vmlinuz[0], out / "vmlinuz")
    (out / "initrd.gz").write_bytes(_gzip(_cpio(files)))
    (out / "versions").write_text("".join(f"{n} {v}\n" for n, v in pkgs))


def _module_index(moddir: Path) -> dict[str, Path]:
    index = {}
    for path in (moddir / "kernel").rglob("*.ko*"):
        name = path.name.split(".ko")[0].replace("-", "_")
        index[name] = path
    return index


def _depends(path: Path) -> list[str]:
    """A module's dependencies, from its .modinfo section (modinfo reads it)."""
    out = run("modinfo", "-F", "depends", str(path)).strip()
    return [d.replace("-", "_") for d in out.split(",") if d]


def _modules(moddir: Path) -> list[Path]:
    """MODULES and their dependencies, dependencies first; builtin ones are skipped."""
    index = _module_index(moddir)
    builtin = moddir / "modules.builtin"
    built = {Path(line).name.split(".ko")[0].replace("-", "_")
             for line in builtin.read_text().splitlines()} if builtin.exists() else set()
    order: list[Path] = []

    def add(name: str, trail: tuple[str, ...]) -> None:
        if name in built or any(p == index.get(name) for p in order):
            return
        if name not in index:
            raise ImageError(f"kernel module {name} (needed by {' <- '.join(trail)}) not in "
                             "the kernel package")
        for dep in _depends(index[name]):
            add(dep, (*trail, name))
        order.append(index[name])

    for name in MODULES:
        add(name, ("the guest",))
    return order


def _module_bytes(path: Path) -> bytes:
    """The module, decompressed (busybox insmod loads plain .ko files)."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        import lzma

        return lzma.decompress(data)
    if path.name.endswith(".zst"):
        raise ImageError(f"{path.name}: zstd-compressed modules are not supported")
    return data


def _cpio(files: dict[str, tuple[int, bytes]]) -> bytes:
    """A newc cpio archive: directories made implicit, entries sorted, owner root, mtime 0.
    Written here (25 lines) so the archive is byte-for-byte reproducible without depending on
    a particular cpio build's options."""
    entries: dict[str, tuple[int, bytes]] = {}
    for name, (mode, data) in files.items():
        parts = name.split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), (0o040755, b""))
        entries[name] = (0o100000 | mode, data)
    out = io.BytesIO()
    for ino, name in enumerate([*sorted(entries), "TRAILER!!!"], start=1):
        mode, data = entries.get(name, (0, b""))
        raw = name.encode() + b"\0"
        nlink = 2 if mode & 0o040000 else 1
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(raw), 0)
        out.write(b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + raw)
        out.write(b"\0" * (-out.tell() % 4))
        out.write(data)
        out.write(b"\0" * (-out.tell() % 4))
    return out.getvalue()


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def report(what: str, build: Callable[[], TinyImage]) -> int:
    """Build or find an image; print its paths (the modules' command line)."""
    try:
        image = build()
    except ImageError as exc:
        print(f"{what}: {exc}", file=sys.stderr)
        return 2
    print(f"kernel {image.kernel}\ninitrd {image.initrd}"
          + (f"\ndisk   {image.disk}" if image.disk else "") + f"\nkey    {image.key}")
    for name, version in image.versions:
        print(f"  {name} {version}")
    return 0


if __name__ == "__main__":
    sys.exit(report("tiny image", ensure))
