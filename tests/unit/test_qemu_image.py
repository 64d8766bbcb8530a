"""The QEMU guest's pieces that need no VM: the initramfs archive (valid newc, reproducible),
the cache key and pruning, the config drive (read back), and /init's reading of
network_data.json (run by busybox sh, as in the guest)."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pycdlib

from probes import programs
from probes.sandbox.guests.base import GuestAddress
from probes.sandbox.guests.metadata import _network_data
from probes.sandbox.qemu import configdrive, image
from probes.sandbox.qemu.guestinit import INIT


def _entries(archive: bytes) -> dict[str, tuple[int, bytes]]:
    """Parse a newc archive: name -> (mode, data)."""
    out, pos = {}, 0
    while True:
        assert archive[pos:pos + 6] == b"070701"
        fields = [int(archive[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = archive[name_start:name_start + namesize - 1].decode()
        data_start = name_start + namesize + (-(name_start + namesize) % 4)
        data = archive[data_start:data_start + size]
        pos = data_start + size + (-(data_start + size) % 4)
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, data)


def test_initramfs_archive_is_valid_and_reproducible() -> None:
    files = {"init": (0o755, b"#!/bin/sh\n"), "bin/busybox": (0o755, b"\x7fELF..."),
             "lib/modules/a.ko": (0o644, b"x" * 5)}
    first, second = image._cpio(files), image._cpio(dict(reversed(list(files.items()))))
    assert first == second  # order of the input does not matter
    entries = _entries(first)
    assert entries["init"] == (0o100755, b"#!/bin/sh\n")
    assert entries["lib"][0] == entries["lib/modules"][0] == 0o040755  # implicit directories
    assert list(entries) == sorted(entries)
    gz = image._gzip(first)
    assert gz[4:8] == b"\0\0\0\0" and gzip.decompress(gz) == first  # mtime 0
    listed = subprocess.run([programs.require("cpio"), "-t", "--quiet"], input=first,
                            capture_output=True, check=True).stdout.decode().split()
    assert set(listed) == set(entries)  # GNU cpio agrees


def test_cache_key_follows_versions_and_init() -> None:
    a = image.cache_key((("linux-image-6.1.0-57-cloud-amd64", "6.1.192-3"),
                         ("busybox-static", "1:1.35.0-4")))
    b = image.cache_key((("linux-image-6.1.0-58-cloud-amd64", "6.1.193-1"),
                         ("busybox-static", "1:1.35.0-4")))
    assert a != b and re.fullmatch(r"[0-9a-f]{16}", a)


def test_prune_removes_only_old_images_of_its_kind(tmp_path: Path) -> None:
    keep, old, fresh, other = (tmp_path / n for n in ("tiny-a", "tiny-b", "tiny-c", "debian-d"))
    for d in (keep, old, fresh, other):
        d.mkdir()
    past = time.time() - image.PRUNE_AFTER - 60
    for d in (keep, old, other):
        os.utime(d, (past, past))
    assert image.prune(tmp_path, "tiny-", keep) == [old]
    assert keep.exists() and fresh.exists() and other.exists()


def test_config_drive_reads_back(tmp_path: Path) -> None:
    files = {"openstack/latest/meta_data.json": b'{"uuid": "u"}',
             "openstack/latest/network_data.json": b"{}",
             "openstack/latest/user_data": b"#!/bin/sh\necho hi\n"}
    configdrive.write(tmp_path / "cd.iso", files)
    iso = pycdlib.PyCdlib()
    iso.open(str(tmp_path / "cd.iso"))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "config-2"
        for name, body in files.items():
            for kind in ("rr_path", "joliet_path"):  # Linux reads Rock Ridge; others Joliet
                buf = io.BytesIO()
                iso.get_file_from_iso_fp(buf, **{kind: "/" + name})
                assert buf.getvalue() == body
    finally:
        iso.close()


def test_init_reads_network_data_like_the_guest(tmp_path: Path) -> None:
    addrs = (GuestAddress("net", "198.51.100.5", 4, "fa:16:3e:00:00:01"),
             GuestAddress("net", "2001:db8:fed:1::5", 6, "fa:16:3e:00:00:01"))
    doc = _network_data(addrs, {4: "198.51.100.1", 6: "2001:db8:fed:1::1"}, {4: 25, 6: 64},
                        metadata_via="198.51.100.2")
    (tmp_path / "nd.json").write_text(json.dumps(doc))
    func = INIT[INIT.index("netlines() {"):INIT.index("\nIF=eth0")]
    bindir = tmp_path / "bin"  # busybox's own grep/sed/awk, as in the guest, not the host's
    bindir.mkdir()
    for applet in ("sh", "grep", "sed", "awk"):
        (bindir / applet).symlink_to(programs.require("busybox"))
    out = subprocess.run([str(bindir / "sh"), "-c", f"{func}\nnetlines {tmp_path / 'nd.json'}"],
                         capture_output=True, text=True, check=True,
                         env={"PATH": str(bindir)}).stdout.splitlines()
    assert out == ["A 4 198.51.100.5 25", "R 4 0.0.0.0/0 198.51.100.1",
                   "R 4 169.254.169.254/32 198.51.100.2", "A 6 2001:db8:fed:1::5 64",
                   "R 6 ::/0 2001:db8:fed:1::1"]
