"""The private virtualenv the distribution packages carry (docs/packaging.md: why one).

Debian 12 and EL9 ship older pydantic, werkzeug, cheroot, prometheus-client, cryptography and
pyasn1 than fedprobe needs, so the .deb and the RPM install fedprobe with its locked
dependencies into a virtualenv of its own under /usr/lib/fedprobe, built at package build
time from wheels, without network and without pip:

    python3 packaging/privvenv.py lock >packaging/requirements.lock   # from an installed fedprobe
    python3 packaging/privvenv.py build --wheelhouse DIR --wheel fedprobe-*.whl \\
        --lock packaging/requirements.lock --prefix /usr/lib/fedprobe --destdir STAGE

`build` runs with the interpreter the package will use (Debian: /usr/bin/python3): the venv is
bound to it. It makes the venv skeleton with the standard library's venv (no pip inside),
checks that the locked wheels fit that interpreter and that together they meet every
requirement (none missing, none of another version), and installs them with pypa/installer,
whose scripts get the final interpreter path and whose bytecode names the final file paths. At
the end no file below DESTDIR may still name DESTDIR. Written here rather than with
dh-virtualenv because the RPM has no dh-virtualenv, and the two packages must carry the same
venv; dh-virtualenv would also run pip, which needs an index or a relocation step afterwards.

Needs only the standard library, `packaging` and `installer` (Debian: python3-packaging,
python3-installer; Fedora/EL: the same names). Errors: one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import sysconfig
import venv
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from zipfile import ZipFile

from packaging.requirements import Requirement
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

INSTALLER_NAME = b"fedprobe-privvenv\n"


class BuildError(Exception):
    """What stops the build, in one line."""


@dataclass(frozen=True)
class Wheel:
    """One wheel of the wheelhouse and what it needs."""

    path: Path
    name: str            # canonical
    version: Version
    requires: tuple[Requirement, ...]


def read_lock(path: Path) -> dict[str, Version]:
    """`name==version` lines (comments and blank lines allowed)."""
    locked: dict[str, Version] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise BuildError(f"{path}:{number}: '{raw}' is not name==version")
        locked[canonicalize_name(name.strip())] = Version(version.strip())
    return locked


def _metadata(path: Path) -> tuple[Requirement, ...]:
    with ZipFile(path) as z:
        [meta] = [n for n in z.namelist()
                  if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        headers = HeaderParser().parsestr(z.read(meta).decode())
    return tuple(Requirement(r) for r in headers.get_all("Requires-Dist") or ())


def pick(wheelhouse: Path, locked: dict[str, Version], main: Path) -> list[Wheel]:
    """The wheel for each locked version that this interpreter can run, and the main wheel."""
    supported = {str(t): rank for rank, t in enumerate(sys_tags())}
    found: dict[str, tuple[int, Path]] = {}
    for path in sorted(wheelhouse.glob("*.whl")):
        name, version, _build, tags = parse_wheel_filename(path.name)
        if locked.get(name) != version:
            continue
        rank = min((supported[str(t)] for t in tags if str(t) in supported), default=None)
        if rank is not None and (name not in found or rank < found[name][0]):
            found[name] = (rank, path)
    missing = sorted(f"{n}=={v}" for n, v in locked.items() if n not in found)
    if missing:
        raise BuildError(f"{wheelhouse}: no wheel this Python ({sys.version.split()[0]}) can run "
                         f"for {', '.join(missing)}")
    name, version, _build, _tags = parse_wheel_filename(main.name)
    wheels = [Wheel(p, n, locked[n], _metadata(p)) for n, (_r, p) in sorted(found.items())]
    return [*wheels, Wheel(main, name, version, _metadata(main))]


def check_closed(wheels: list[Wheel]) -> None:
    """Every requirement of every wheel (markers evaluated for this interpreter) is met."""
    have = {w.name: w.version for w in wheels}
    problems = []
    for w in wheels:
        for req in w.requires:
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(req.name)
            if name not in have:
                problems.append(f"{w.name} needs {req} (not in the lock)")
            elif not req.specifier.contains(have[name], prereleases=True):
                problems.append(f"{w.name} needs {req}, the lock has {have[name]}")
    if problems:
        raise BuildError("the locked wheels do not fit together: " + "; ".join(problems))


def _scheme(prefix: str) -> dict[str, str]:
    paths = sysconfig.get_paths("venv", vars={"base": prefix, "platbase": prefix,
                                              "installed_base": prefix,
                                              "installed_platbase": prefix})
    return {"purelib": paths["purelib"], "platlib": paths["platlib"],
            "scripts": paths["scripts"], "data": prefix,
            "headers": f"{prefix}/include/site/python{sys.version_info[0]}."
                       f"{sys.version_info[1]}"}


def interpreter() -> str:
    """The versioned interpreter the venv is bound to (what the packages depend on)."""
    return os.path.realpath(sys.executable)


def _skeleton(root: Path, prefix: str) -> None:
    """The venv itself (pyvenv.cfg, bin/python*, lib/), naming the final prefix."""
    venv.EnvBuilder(symlinks=True, with_pip=False).create(str(root))
    # bin/python3 names the versioned interpreter (/usr/bin/python3.11), not /usr/bin/python3:
    # when the distribution's default python3 moves on, this venv keeps the one it was built
    # for. Relative links, as both distributions' policies ask.
    bindir = root / "bin"
    for link in [bindir / "python3", *(p for p in bindir.iterdir()
                                        if p.is_symlink() and os.readlink(p).startswith("/"))]:
        link.unlink()
        link.symlink_to(os.path.relpath(interpreter(), f"{prefix}/bin"))
    for f in [root / "pyvenv.cfg", *(root / "bin").glob("[Aa]ctivate*")]:
        if f.is_file():
            f.write_text(f.read_text().replace(str(root), prefix))


def _leaks(destdir: Path) -> list[str]:
    needle = str(destdir).encode()
    return [str(p) for p in sorted(destdir.rglob("*"))
            if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def _not_scripts(root: Path) -> None:
    """Modules some wheels mark executable though they are no scripts: clear the mode bits."""
    for p in root.rglob("*.py"):
        mode = p.stat().st_mode
        if mode & 0o111 and not p.is_symlink():
            with p.open("rb") as f:
                if f.read(2) != b"#!":
                    p.chmod(mode & ~0o111)


def build(wheelhouse: Path, main: Path, lock: Path, prefix: str, destdir: Path, *,
          bytecode: bool = True) -> int:
    """Make the venv at DESTDIR/PREFIX; return the number of distributions installed.
    Without bytecode, the package compiles it where it is installed (Debian's way)."""
    if not prefix.startswith("/"):
        raise BuildError(f"--prefix {prefix!r} is not an absolute path")
    wheels = pick(wheelhouse, read_lock(lock), main)
    check_closed(wheels)
    try:
        from installer import install
        from installer.destinations import SchemeDictionaryDestination
        from installer.sources import WheelFile
    except ImportError as e:
        raise BuildError(f"{sys.executable} has no 'installer' module ({e}): install "
                         "python3-installer") from e
    root = destdir / prefix.lstrip("/")
    if root.exists():
        raise BuildError(f"{root} exists already: give an empty --destdir")
    _skeleton(root, prefix)
    scheme = _scheme(prefix)
    destination = SchemeDictionaryDestination(
        scheme, interpreter=f"{scheme['scripts']}/python3", script_kind="posix",
        bytecode_optimization_levels=(0,) if bytecode else (), destdir=str(destdir))
    for w in wheels:
        with WheelFile.open(w.path) as source:
            install(source, destination, additional_metadata={"INSTALLER": INSTALLER_NAME})
    _not_scripts(root)
    leaks = _leaks(destdir)
    if leaks:
        raise BuildError(f"{len(leaks)} file(s) still name the build directory {destdir}, "
                         f"e.g. {leaks[0]}")
    return len(wheels)


def lock_lines(dist: str = "fedprobe") -> list[str]:
    """The installed dependency closure of DIST (no extras), as lock lines."""
    versions: dict[str, str] = {}
    todo = [Requirement(r) for r in importlib.metadata.requires(dist) or ()]
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in versions:
            continue
        found = importlib.metadata.distribution(req.name)
        versions[name] = found.version
        todo.extend(Requirement(r) for r in found.requires or ())
    return [f"{n}=={v}" for n, v in sorted(versions.items())]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="privvenv", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("lock", help="print the lock of the installed fedprobe's dependencies")
    sub.add_parser("interpreter", help="print the interpreter a venv built now is bound to")
    b = sub.add_parser("build", help="build the private venv below a staging directory")
    b.add_argument("--wheelhouse", type=Path, required=True)
    b.add_argument("--wheel", type=Path, required=True, help="fedprobe's own wheel")
    b.add_argument("--lock", type=Path, required=True)
    b.add_argument("--prefix", default="/usr/lib/fedprobe")
    b.add_argument("--destdir", type=Path, required=True)
    b.add_argument("--no-bytecode", dest="bytecode", action="store_false",
                   help="no .pyc files (the package compiles them when installed)")
    args = p.parse_args(argv)
    try:
        if args.command == "lock":
            print("# fedprobe's runtime dependencies, as the packages' private venv holds them")
            print("# (python3 packaging/privvenv.py lock; docs/packaging.md)")
            print("\n".join(lock_lines()))
            return 0
        if args.command == "interpreter":
            print(interpreter())
            return 0
        n = build(args.wheelhouse, args.wheel, args.lock, args.prefix, args.destdir.resolve(),
                  bytecode=args.bytecode)
    except (BuildError, OSError, ValueError) as e:
        print(f"privvenv: {e}", file=sys.stderr)
        return 1
    print(f"privvenv: {n} distributions in {args.destdir}{args.prefix} for Python "
          f"{sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
