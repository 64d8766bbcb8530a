"""The OpenStack config drive of one server: an ISO 9660 image labelled ``config-2`` (Rock Ridge
and Joliet, as Nova makes it) holding ``openstack/latest/{meta_data.json, network_data.json,
user_data}``. Made with pycdlib (pure Python: no genisoimage/xorriso needed)."""

from __future__ import annotations

import io
from pathlib import Path

import pycdlib

LABEL = "config-2"


def _iso_name(name: str) -> str:
    """An ISO 9660 level-1-safe name for a path component (Rock Ridge/Joliet keep the real)."""
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    clean = "".join(c if c.isalnum() else "_" for c in stem.upper())[:8]
    return f"{clean}.{ext.upper()[:3]};1" if dot else f"{clean};1"


def write(path: Path, files: dict[str, bytes]) -> None:
    """Write the drive; `files` maps paths like ``openstack/latest/meta_data.json`` to bodies."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=LABEL, rock_ridge="1.09", joliet=3)
    made: set[str] = set()
    try:
        for name, body in sorted(files.items()):
            parts = name.split("/")
            for depth in range(1, len(parts)):
                d = "/".join(parts[:depth])
                if d in made:
                    continue
                iso.add_directory("/" + "/".join(_iso_name(p).removesuffix(";1")
                                                 for p in parts[:depth]),
                                  rr_name=parts[depth - 1], joliet_path="/" + d)
                made.add(d)
            iso_path = "/" + "/".join([*(_iso_name(p).removesuffix(";1") for p in parts[:-1]),
                                       _iso_name(parts[-1])])
            iso.add_fp(io.BytesIO(body), len(body), iso_path, rr_name=parts[-1],
                       joliet_path="/" + name)
        iso.write(str(path))
    finally:
        iso.close()
