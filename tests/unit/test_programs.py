"""The program registry against dev/system-deps and dpkg: every program fedprobe runs comes from
a package the project installs (or that every Debian system has), and is on this machine once
dev/system-deps ran (make test runs it first)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from probes import programs
from probes.programs import PROGRAMS, MissingProgram

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin")


def system_deps_packages() -> set[str]:
    """The packages dev/system-deps installs (its PKGS line)."""
    match = re.search(r'^PKGS="([^"]*)"', (ROOT / "dev/system-deps").read_text(), re.M)
    assert match, "dev/system-deps has no PKGS=\"...\" line"
    return set(match.group(1).split())


def base_packages(names: set[str]) -> set[str]:
    """Those of the packages that every Debian system has: Essential, or of priority required
    (what a minbase root holds), or apt itself."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Essential}\t${Priority}\n",
                          *sorted(names)], capture_output=True, text=True, check=False).stdout
    base = {"apt"} & names
    for line in out.splitlines():
        name, essential, priority = [*line.split("\t"), "", ""][:3]
        if essential == "yes" or priority == "required":
            base.add(name)
    return base


def test_every_package_is_installed_by_system_deps_or_on_every_debian() -> None:
    wanted = {p.package for p in programs.needed() if not p.bootstrap}
    installed = system_deps_packages()
    left = wanted - installed
    missing = left - base_packages(left)
    assert not missing, (f"dev/system-deps does not install {sorted(missing)}, which "
                         + ", ".join(sorted(p.name for p in programs.needed()
                                            if p.package in missing)) + " need")


def test_every_needed_program_is_here_after_system_deps() -> None:
    missing = [programs.not_found(p.name) for p in programs.needed()
               if programs.which(p.name) is None]
    assert not missing, "\n".join(missing)


def _aliases(path: str) -> list[str]:
    """The names dpkg may know a program's file by: merged-/usr makes /bin/x and /usr/bin/x the
    same file, owned under one of the names only; an alternatives link is owned by its target."""
    base = os.path.basename(path)
    same = [p for d in SYSTEM_DIRS
            if os.path.exists(p := f"{d}/{base}") and os.path.samefile(p, path)]
    return list(dict.fromkeys([path, *same, os.path.realpath(path)]))


def owners_by_dpkg(paths: list[str]) -> dict[str, set[str]]:
    """path -> packages `dpkg -S` names for it."""
    out = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True,
                         check=False).stdout
    owners: dict[str, set[str]] = {}
    for line in out.splitlines():
        pkgs, _, path = line.partition(": ")
        if path.strip() in paths:
            owners.setdefault(path.strip(), set()).update(
                p.strip().split(":")[0] for p in pkgs.split(","))
    return owners


def test_dpkg_agrees_who_provides_each_program() -> None:
    # The Debian copy of each program (a PATH may find another, e.g. pyenv's python3).
    found = {}
    for prog in PROGRAMS.values():
        path = next((f"{d}/{prog.name}" for d in SYSTEM_DIRS
                     if os.path.exists(f"{d}/{prog.name}")), None)
        if path:
            found[prog.name] = _aliases(path)
    assert len(found) >= len(programs.needed()) - 2  # nearly all are here after system-deps
    owners = owners_by_dpkg(sorted({a for paths in found.values() for a in paths}))
    wrong = []
    for name, paths in found.items():
        said = set().union(*(owners.get(p, set()) for p in paths))
        if PROGRAMS[name].owners not in said:
            wrong.append(f"{name}: registry says {PROGRAMS[name].owners}, dpkg -S says "
                         f"{sorted(said) or 'no package'} for {paths}")
    assert not wrong, "\n".join(wrong)


def test_a_missing_program_names_its_package(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(programs, "SBIN", ())
    with pytest.raises(MissingProgram) as err:
        programs.require("modinfo")
    assert str(err.value) == "'modinfo' not found: install the Debian package kmod"
    assert programs.first_missing("ip", "unshare") == \
        "'ip' not found: install the Debian package iproute2"
    assert programs.first_missing("/opt/qemu/bin/qemu") == "'/opt/qemu/bin/qemu' not found"


def test_sbin_programs_are_found_off_a_users_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert programs.which("modinfo") in ("/usr/sbin/modinfo", "/sbin/modinfo")


def test_the_listing_says_what_is_missing(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    assert programs.main([]) == 0
    listed = capsys.readouterr().out
    assert all(re.search(rf"^{re.escape(n)} ", listed, re.M) for n in PROGRAMS)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(programs, "SBIN", ())
    assert programs.main(["--check"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "missing: 'modinfo' not found: install the Debian package kmod" \
        in out.err
