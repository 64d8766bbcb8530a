"""`make packages` (issue 21): the wheel and sdist, built without network from the venv's own
build backend: the wheel carries every module and, beside them, the dashboard and alert rules
(as package data) and the example configs and systemd units (as data files for
<prefix>/share/fedprobe); unpacked elsewhere, the package finds its dashboard and its command
runs; the sdist holds what the distribution packages are built from.

The .deb and the RPM, built from that sdist and wheel with the private venv (packaging/build,
no network: the wheelhouse `make test` downloaded): the RPM's files are ARGO's layout and none
collides with argo-probe-fedcloud's; its requirements are the interpreter and system
libraries, none of what the venv carries; lintian and rpmlint find nothing but what the
packages' overrides justify; the .deb installs with apt into a throwaway Debian root, where
its `fedprobe vm` passes against the sandbox as a user of group fedprobe, systemd verifies its
unit, and removing and purging it leaves nothing behind; unpacked there, the RPM's ARGO plugin
passes too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from probes import programs
from probes.sandbox import Sandbox
from tests import debroot

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
VERSION = "0.1.0"
ARGO_DIR = "/usr/libexec/argo/probes/fedcloud"
PLUGINS = ("vm", "keystone", "api", "proxy", "token")
# What argo-probe-fedcloud installs (its spec: 0.8, 2022-23, in ARGO_DIR; 0.11, 2024-25, as
# console scripts in /usr/bin), so that a name fedprobe ships there never collides unnoticed.
ARGO_FEDCLOUD = {f"{ARGO_DIR}/{n}" for n in (
    "novaprobe.py", "swiftprobe.py", "cloudinfo.py", "check_perun", "check_fedcloud_accnt",
    "check_occi_compute_create", "appdb-cloud-probe.pl")} | {
    f"/usr/bin/{n}" for n in ("novaprobe", "swiftprobe", "cloudinfo", "check_fedcloud_accnt")}
# the system libraries the venv's shared objects link (its bundled ones are its own)
SYSTEM_LIBS = ("libc.so.6", "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libpthread.so.0",
               "libdl.so.2", "librt.so.1", "libm.so.6", "rtld(GNU_HASH)")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    work = tmp_path_factory.mktemp("src")
    # from a copy of the tracked files: what a clean clone builds, not this checkout's litter
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, work / rel)  # with its mode: scripts stay executable
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(work)], capture_output=True, check=True, timeout=300)
    return out


def wheelhouse() -> Path:
    """Where `make test` downloaded the locked wheels (a clear failure when it did not)."""
    path = Path(os.environ.get("FEDPROBE_WHEELHOUSE", ROOT / ".setup/wheelhouse"))
    if not (path / ".complete").exists():
        pytest.fail(f"the locked wheels are not in {path}: run `make test` (it downloads "
                    "packaging/requirements.lock there)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def packages(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The .deb and the RPM, as `make packages` builds them (packaging/build)."""
    work = tmp_path_factory.mktemp("pkgwork")
    for tool in ("dpkg-buildpackage", "dh", "rpmbuild"):
        programs.require(tool)
    done = subprocess.run([str(ROOT / "packaging/build"), str(dist), str(wheelhouse()),
                           str(work)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [deb] = dist.glob(f"fedprobe_{VERSION}-*_amd64.deb")
    [rpm] = dist.glob(f"fedprobe-{VERSION}-*.x86_64.rpm")
    return {"deb": deb, "rpm": rpm}


def root_ids(root: Path, table: str, name: str) -> int:
    """A user's or group's id in the root's own /etc/passwd or /etc/group."""
    for line in (root / "etc" / table).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"no {name} in the root's /etc/{table}")


def rpm_query(rpm: Path, *what: str) -> list[str]:
    out = subprocess.run([programs.require("rpm"), "-qp", *what, str(rpm)], capture_output=True,
                         text=True, check=True, timeout=60)
    return out.stdout.splitlines()


def test_the_wheel_has_every_module_and_the_operators_files(dist: Path) -> None:
    [wheel] = dist.glob("fedprobe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for d in ("probes", "exporters")
               for p in (ROOT / d).rglob("*.py")}
    assert modules - names == set()
    data = next(n.split("/data/")[0] for n in names if ".data/data/" in n) + "/data/"
    assert {"exporters/grafana/fedprobe-dashboard.json",
            "exporters/alerts/fedprobe.rules.yml",
            data + "share/fedprobe/config/sites.example.yaml",
            data + "share/fedprobe/config/exporter.example.yaml",
            data + "share/fedprobe/systemd/fedprobe-exporter.service"} <= names
    assert not any(n.startswith("tests/") or n.endswith(".test.yml") for n in names)


def test_the_sdist_holds_what_packages_are_built_from(dist: Path) -> None:
    [sdist] = dist.glob("fedprobe-*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert {"pyproject.toml", "config/sites.example.yaml", "docs/packaging.md",
            "packaging/systemd/fedprobe-exporter.service",
            "exporters/grafana/fedprobe-dashboard.json", "CHANGELOG.md"} <= names


def test_unpacked_it_finds_its_dashboard_and_runs(dist: Path, tmp_path: Path) -> None:
    # a pure wheel's files are its install (pip itself is not run: it execs lsb_release, uname
    # and rustc to describe the machine)
    [wheel] = dist.glob("fedprobe-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # noqa: S202 (the wheel built just now)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import importlib.resources, json, exporters; "
            "print(exporters.__file__); "
            "d = importlib.resources.files('exporters') / 'grafana/fedprobe-dashboard.json'; "
            "print(json.loads(d.read_text())['title'])")
    out = subprocess.run([sys.executable, "-I", "-c", code.replace("import importlib",
                          f"import sys; sys.path.insert(0, {str(site)!r}); import importlib")],
                         cwd=tmp_path, capture_output=True, text=True, check=True
                         ).stdout.splitlines()
    assert out[0].startswith(str(site))  # the unpacked copy, not this checkout
    assert out[1] == json.loads((ROOT / "exporters/grafana/fedprobe-dashboard.json")
                                .read_text())["title"]
    [data] = site.glob("fedprobe-*.data/data")
    assert (data / "share/fedprobe/config/sites.example.yaml").read_text() == \
        (ROOT / "config/sites.example.yaml").read_text()
    run = subprocess.run([sys.executable, "-m", "probes", "vm", "--help"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "--state-dir" in run.stdout


def test_the_rpm_has_argos_layout_and_collides_with_nothing_of_argo(
        packages: dict[str, Path]) -> None:
    files = set(rpm_query(packages["rpm"], "-l"))
    assert {"/usr/bin/fedprobe", "/usr/lib/fedprobe/bin/fedprobe",
            "/usr/lib/fedprobe/pyvenv.cfg",
            "/etc/fedprobe/sites.example.yaml", "/etc/fedprobe/exporter.example.yaml",
            "/usr/share/fedprobe/grafana/fedprobe-dashboard.json",
            "/usr/share/fedprobe/alerts/fedprobe.rules.yml",
            "/usr/lib/systemd/system/fedprobe-exporter.service",
            "/usr/share/man/man1/fedprobe.1.gz", "/var/lib/fedprobe"} <= files
    # the schedulers' drop-in definitions, as the tree has them (test_nagios4.py, ... run them)
    for sched in ("nagios4", "icinga2", "argo", "sensu"):
        shipped = {f"/usr/share/fedprobe/{sched}/{p.name}" for p in
                   (ROOT / "packaging" / sched).iterdir() if p.is_file()}
        assert shipped and shipped <= files, sched
    assert {f for f in files if f.startswith(ARGO_DIR + "/")} == \
        {f"{ARGO_DIR}/fedprobe-{c}" for c in PLUGINS}
    # nothing but fedprobe's own paths (and the shared ARGO directory)
    assert {f for f in files if not f.startswith((
        "/usr/lib/fedprobe", "/etc/fedprobe", "/usr/share/fedprobe", ARGO_DIR,
        "/usr/share/doc/fedprobe", "/usr/share/licenses/fedprobe", "/var/lib/fedprobe"))} == {
        "/usr/bin/fedprobe", "/usr/lib/systemd/system/fedprobe-exporter.service",
        "/usr/share/man/man1/fedprobe.1.gz"}
    # no name of argo-probe-fedcloud's, so no Conflicts: both can be installed
    assert files & ARGO_FEDCLOUD == set()
    assert rpm_query(packages["rpm"], "--conflicts") == []
    modes = {path: f"{perms} {owner}" for perms, owner, path in (
        line.split(" ", 2) for line in rpm_query(
            packages["rpm"], "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} "
            "%{FILENAMES}\n]"))}
    assert modes["/var/lib/fedprobe"] == "drwxrws--- fedprobe:fedprobe"
    assert modes[f"{ARGO_DIR}/fedprobe-vm"].startswith("-rwxr-xr-x")


def test_the_rpm_requires_its_interpreter_and_system_libraries_only(
        packages: dict[str, Path]) -> None:
    requires = rpm_query(packages["rpm"], "--requires")
    needs = ("/usr/bin/python3.11", "python(abi) = 3.11", "shadow-utils", "procps-ng")
    assert set(needs) <= set(requires)
    others = [r for r in requires if not r.startswith(
        (*needs, "/bin/sh", "rpmlib(",
         "config(fedprobe)", "/usr/lib/fedprobe/bin/python3", *SYSTEM_LIBS))]
    # nothing the venv carries (python3.11dist(...)), none of its bundled libraries
    assert others == []
    provides = {p.split(" ")[0] for p in rpm_query(packages["rpm"], "--provides")}
    assert provides == {"fedprobe", "fedprobe(x86-64)", "config(fedprobe)"}
    # the venv's scripts name their final interpreter; the interpreter is the versioned one
    listing = rpm_query(packages["rpm"], "-lv")
    assert any(line.endswith("/usr/lib/fedprobe/bin/python3 -> ../../../bin/python3.11")
               for line in listing)


def test_lintian_and_rpmlint_find_nothing_the_overrides_do_not_justify(
        packages: dict[str, Path]) -> None:
    lint = subprocess.run([programs.require("lintian"), "--fail-on", "error,warning",
                           "--tag-display-limit", "0", str(packages["deb"])],
                          capture_output=True, text=True, timeout=300)
    tags = [ln for ln in lint.stdout.splitlines() if ln[:2] in ("E:", "W:")]
    assert lint.returncode == 0 and tags == [], lint.stdout[-3000:]
    rpmlint = subprocess.run([programs.require("rpmlint"), "-c",
                              str(ROOT / "packaging/rpm/rpmlint.toml"), str(packages["rpm"])],
                             capture_output=True, text=True, timeout=300)
    assert rpmlint.returncode == 0, rpmlint.stdout[-3000:]
    assert "0 errors, 0 warnings" in rpmlint.stdout, rpmlint.stdout[-3000:]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="chroot and mounts need root (CI runs as root)")
def test_the_deb_installs_with_apt_and_its_vm_probe_passes_against_the_sandbox(
        packages: dict[str, Path], sandbox_factory: Callable[..., Sandbox],
        tmp_path: Path) -> None:
    root = debroot.unpack(tmp_path / "root")
    deb = packages["deb"]
    (root / "tmp" / deb.name).write_bytes(deb.read_bytes())

    def inside(*command: str) -> subprocess.CompletedProcess[str]:
        done = debroot.run(root, *command)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        return done

    # apt, with no package list: everything the .deb depends on is in the root already
    inside("apt-get", "install", "-y", f"/tmp/{deb.name}")
    state = root / "var/lib/fedprobe"
    uid, gid = root_ids(root, "passwd", "fedprobe"), root_ids(root, "group", "fedprobe")
    assert (state.stat().st_mode & 0o7777, state.stat().st_uid, state.stat().st_gid) == \
        (0o2770, uid, gid)
    assert inside("fedprobe", "--version").stdout.strip().endswith(VERSION)
    site = root / "usr/lib/fedprobe/lib/python3.11/site-packages"
    assert list((site / "probes").glob("__pycache__/*.cpython-311.pyc"))  # compiled at install
    assert (root / "usr/share/fedprobe/nagios4/fedprobe-commands.cfg").is_file()

    # the unit, checked by systemd against the installed root (the command exists now)
    verify = subprocess.run([programs.require("systemd-analyze"), "verify", f"--root={root}",
                             "fedprobe-exporter.service"], capture_output=True, text=True,
                            timeout=120)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr

    # a Nagios-like user in group fedprobe runs the plugin; the ledger is the shared one
    sb = sandbox_factory()
    (root / "tmp/sites.yaml").write_text(sb.sites_yaml.read_text())
    inside("useradd", "--system", "--groups", "fedprobe", "--no-create-home", "nagios")
    run = inside("runuser", "-u", "nagios", "--", "fedprobe", "vm", "--sites",
                 "/tmp/sites.yaml", "--site", "sandbox", "-t", "90")
    assert run.stdout.startswith("FEDCLOUD_VM OK - VM lifecycle OK at sandbox"), run.stdout
    ledger = [p for p in state.rglob("*") if p.is_file()]
    assert ledger and all(p.stat().st_gid == gid for p in ledger), ledger
    assert sb.live_servers() == []

    # removed, the venv and its compiled bytecode go; purged, the ledger and the user too
    inside("apt-get", "remove", "-y", "fedprobe")
    assert not (root / "usr/lib/fedprobe").exists()
    assert not (root / "usr/bin/fedprobe").exists()
    assert state.exists()  # a VM it lists may still run: removal keeps the ledger
    inside("apt-get", "purge", "-y", "fedprobe")
    assert not state.exists()
    assert "fedprobe:" not in (root / "etc/passwd").read_text()


    # The RPM's payload in the same root (its venv is bound to /usr/bin/python3.11, which
    # Debian 12 has too): ARGO's plugin name runs the same probe, to the same verdict
    with subprocess.Popen([programs.require("rpm2cpio"), str(packages["rpm"])],
                          stdout=subprocess.PIPE) as payload:
        subprocess.run([programs.require("cpio"), "-idm", "--quiet"], stdin=payload.stdout,
                       cwd=root, check=True, timeout=120)
    assert payload.returncode == 0
    argo = inside(f"{ARGO_DIR}/fedprobe-vm", "--sites", "/tmp/sites.yaml", "--site", "sandbox",
                  "-t", "90")
    assert argo.stdout.startswith("FEDCLOUD_VM OK - VM lifecycle OK at sandbox"), argo.stdout
    assert sb.live_servers() == []
