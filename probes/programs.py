"""Every external program fedprobe runs — the probes, the sandbox, the probe's user-data on the
sandbox's namespace and process guests (which runs the host's own programs), dev/ and the tests —
with the Debian package that provides it and why it is run.

One registry, so a missing program is reported with the package to install, `dev/system-deps`
is checked against it (tests/unit/test_programs.py), and the test suite fails a test that runs a
program missing from it (tests/guards). Standard library only: the test guard imports it in every
Python process the tests start, including the real Keystone's venv.

    python3 -m probes.programs            # list them, with what is missing here
    python3 -m probes.programs --check    # exit 1 when a needed program is missing
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass

# Who runs a program (Program.users): "probe" (the plugins and the exporter, as installed for
# operators), "sandbox" (the embedded cloud and its guests), "guest" (the probe's user-data, as
# namespace and process guests run it on the host), "dev" (Makefile, dev/), "tests".
# Where a program is looked for besides $PATH: a non-root user's PATH often lacks the sbin
# directories, where Debian puts ip, modinfo and mke2fs.
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


@dataclass(frozen=True)
class Program:
    """One external program and where it comes from."""

    name: str
    package: str             # the Debian package `apt-get install` is given
    purpose: str
    users: frozenset[str]
    owner: str = ""          # the package that owns the file, when a dependency of `package`
    optional: str = ""       # why the code does without it (then nothing installs it)
    bootstrap: bool = False  # needed before any of our code runs: a newcomer installs it

    @property
    def owners(self) -> str:
        """The package `dpkg -S` names for the program's file."""
        return self.owner or self.package


def _p(name: str, package: str, users: str, purpose: str, *, owner: str = "",
       optional: str = "", bootstrap: bool = False) -> Program:
    return Program(name, package, purpose, frozenset(users.split()), owner, optional, bootstrap)


_ALL = (
    # -- the probes ------------------------------------------------------------------------------
    _p("ping", "iputils-ping", "probe", "reach: the optional ICMP echo beside the TCP check"),
    _p("voms-proxy-init", "voms-clients", "probe tests", "X509: make a VOMS proxy"),
    _p("voms-proxy-info", "voms-clients", "probe tests", "X509: read a VOMS proxy"),
    _p("voms-proxy-info2", "voms-clients", "probe", "X509: the C voms-proxy-info, when the "
       "Java clients took its name", optional="voms-proxy-info is used when absent"),
    _p("voms-proxy-destroy", "voms-clients", "probe", "X509: remove a proxy"),
    # -- the sandbox and its guests ------------------------------------------------------------
    _p("ip", "iproute2", "sandbox guest tests", "namespace/QEMU guests: namespaces, bridges, "
       "veths, taps, addresses, routes"),
    _p("unshare", "util-linux", "sandbox tests", "guests: private pid, network, mount and UTS "
       "namespaces"),
    _p("sh", "dash", "sandbox guest tests", "runs user-data scripts and the guests' wrapper"),
    _p("mount", "mount", "sandbox guest", "namespace guests: private /run, /tmp, /root; the "
       "user-data: mount the config drive"),
    _p("umount", "mount", "guest", "the user-data: unmount the config drive"),
    _p("hostname", "hostname", "sandbox", "namespace guests: the guest's hostname"),
    _p("qemu-system-x86_64", "qemu-system-x86", "sandbox tests", "QEMU guests: real tiny VMs "
       "(TCG)"),
    _p("apt-get", "apt", "sandbox dev", "QEMU image: download the kernel and busybox packages; "
       "dev/system-deps"),
    _p("apt-cache", "apt", "sandbox", "QEMU image: the package versions in its cache key"),
    _p("dpkg-deb", "dpkg", "sandbox tests", "QEMU image: unpack the kernel and busybox packages; "
       "the .deb's contents"),
    _p("modinfo", "kmod", "sandbox", "QEMU image: kernel module dependencies"),
    _p("mmdebstrap", "mmdebstrap", "sandbox dev tests", "the full Debian QEMU image; "
       "dev/fresh-root; the Debian root the .deb is installed in"),
    _p("mke2fs", "e2fsprogs", "sandbox", "the full Debian QEMU image's root disk"),
    _p("truncate", "coreutils", "sandbox", "the full Debian QEMU image's root disk"),
    # -- the probe's user-data, as namespace and process guests run it ---------------------------
    _p("wget", "wget", "guest", "the user-data: fetch metadata and MJF over HTTP, post the "
       "report home (--post-data)"),
    _p("curl", "curl", "guest", "the user-data: fetch and post over HTTP when wget fails"),
    _p("timeout", "coreutils", "guest", "the user-data: bound a wget without -T"),
    _p("blkid", "util-linux", "guest", "the user-data: find the config drive"),
    _p("findfs", "util-linux", "guest", "the user-data: find the config drive"),
    _p("cat", "coreutils", "sandbox guest", "read files"),
    _p("cut", "coreutils", "guest", "the user-data: read /proc/uptime"),
    _p("head", "coreutils", "guest", "the user-data: first lines"),
    _p("tr", "coreutils", "guest", "the user-data: one report line per value"),
    _p("mkdir", "coreutils", "sandbox guest", "make directories"),
    _p("mktemp", "coreutils", "guest", "the user-data: a mount point"),
    _p("rmdir", "coreutils", "guest", "the user-data: remove the mount point"),
    _p("chmod", "coreutils", "sandbox dev", "file modes"),
    _p("sed", "sed", "guest", "the user-data: read metadata keys"),
    _p("grep", "grep", "guest dev", "the user-data: count authorized keys"),
    # -- the tests -----------------------------------------------------------------------------
    _p("openssl", "openssl", "tests", "hash CA directories (openssl rehash)"),
    _p("voms-proxy-fake", "voms-clients", "tests", "VOMS proxies with attribute certificates"),
    _p("prometheus", "prometheus", "tests", "a real Prometheus scraping the exporter"),
    _p("promtool", "prometheus", "tests", "alert-rule unit tests and exposition lint"),
    _p("systemd-analyze", "systemd", "tests", "the exporter unit's verify and security score"),
    _p("dpkg-buildpackage", "dpkg-dev", "dev tests", "make packages: build the .deb"),
    _p("dh", "debhelper", "dev tests", "make packages: debian/rules' debhelper sequence (run "
       "by dpkg-buildpackage)"),
    _p("rpmbuild", "rpm", "dev tests", "make packages: build the RPM"),
    _p("rpm", "rpm", "tests", "the RPM's files and requirements (rpm -qlp, -qp --requires)"),
    _p("rpm2cpio", "rpm", "tests", "the RPM's payload, unpacked into the Debian root",
       owner="rpm2cpio"),
    _p("lintian", "lintian", "tests", "the .deb against Debian's policy checks"),
    _p("rpmlint", "rpmlint", "tests", "the RPM against rpmlint's checks"),
    _p("nagios4", "nagios4-core", "tests", "the Nagios 4 definitions under the real scheduler"),
    _p("icinga2", "icinga2-bin", "tests", "the Icinga 2 definitions under the real scheduler"),
    _p("readelf", "rpmlint", "tests", "rpmlint: the RPM's shared objects", owner="binutils"),
    _p("ldconfig", "libc-bin", "tests", "rpmlint: where libmagic is (ctypes.util.find_library)"),
    _p("chromium-headless-shell", "chromium-headless-shell", "tests dev",
       "screenshots of the exporter's status page (rendered, then looked at)"),
    _p("prometheus-pushgateway", "prometheus-pushgateway", "tests", "fedprobe vm --pushgateway"),
    _p("prometheus-node-exporter", "prometheus-node-exporter", "tests",
       "fedprobe vm --textfile, read by node_exporter's textfile collector"),
    _p("busybox", "busybox-static", "tests", "the user-data under busybox sh; the tiny image's "
       "/init functions"),
    _p("dash", "dash", "tests", "the user-data under dash"),
    _p("bash", "bash", "tests", "the user-data under bash"),
    _p("cpio", "cpio", "tests", "GNU cpio lists the tiny image's initramfs; unpacks the RPM"),
    _p("pgrep", "procps", "tests", "find guests' leftover processes"),
    _p("strace", "strace", "tests", "trace the programs the user-data runs"),
    _p("sleep", "coreutils", "tests", "guests' test user-data"),
    _p("setsid", "util-linux", "tests", "guests' test user-data: a daemonised process"),
    # -- dev/ and the README's commands ----------------------------------------------------------
    _p("python3", "python3", "dev tests", "the virtualenvs (python3 -m venv)",
       owner="python3-minimal"),
    _p("dpkg-query", "dpkg", "dev tests", "dev/system-deps: which packages are missing"),
    _p("dpkg", "dpkg", "tests", "dpkg -S: which package owns a program"),
    _p("id", "coreutils", "dev", "dev/system-deps: root or not"),
    _p("tee", "coreutils", "dev", "dev/system-deps: write policy-rc.d as root"),
    _p("rm", "coreutils", "dev", "remove files"),
    _p("chroot", "coreutils", "dev", "dev/fresh-root: run inside the fresh root"),
    _p("env", "coreutils", "dev", "dev/fresh-root: a clean environment in the fresh root"),
    _p("cp", "coreutils", "dev", "dev/fresh-root: copy the scripts into the fresh root"),
    _p("mv", "coreutils", "dev", "dev/fresh-root: keep the new minbase root"),
    _p("date", "coreutils", "dev", "dev/fresh-root: how long it took"),
    _p("find", "findutils", "dev", "dev/fresh-root: is the cached root older than a week"),
    _p("dirname", "coreutils", "dev", "dev/ scripts: where they are"),
    _p("tail", "coreutils", "dev", "dev/quietly: the end of a failed step's log"),
    _p("touch", "coreutils", "dev", "Makefile: install stamps"),
    _p("seq", "coreutils", "tests", "dev/quietly's test: a long log"),
    _p("tar", "tar", "dev", "dev/fresh-root: the cached root filesystem"),
    _p("sudo", "sudo", "dev", "dev/system-deps as a non-root user",
       optional="dev/system-deps runs apt-get directly as root"),
    _p("systemctl", "systemd", "dev", "dev/system-deps: keep test servers' services stopped",
       optional="only on machines that run systemd"),
    _p("make", "make", "dev", "the README's commands", bootstrap=True),
    _p("git", "git", "dev", "clone the project", bootstrap=True),
)

PROGRAMS: dict[str, Program] = {p.name: p for p in _ALL}


class MissingProgram(Exception):
    """A program fedprobe needs is not installed; the message names the package."""


def which(name: str) -> str | None:
    """Where the program is: on $PATH, else in the sbin directories."""
    path = os.environ.get("PATH", os.defpath)
    return shutil.which(name, path=os.pathsep.join([path, *SBIN]))


def not_found(name: str) -> str:
    """One line for the operator: what is missing and which Debian package provides it."""
    prog = PROGRAMS.get(name)
    if prog is None:  # a path the operator configured (e.g. another QEMU binary)
        return f"'{name}' not found"
    return f"'{name}' not found: install the Debian package {prog.package}"


def first_missing(*names: str) -> str | None:
    """not_found() of the first of these programs that is missing, or None."""
    return next((not_found(n) for n in names if which(n) is None), None)


def require(name: str) -> str:
    """The program's path, or MissingProgram naming its package."""
    found = which(name)
    if found is None:
        raise MissingProgram(not_found(name))
    return found


def needed() -> list[Program]:
    """The programs nothing may leave out (not optional)."""
    return [p for p in _ALL if not p.optional]


def main(argv: list[str]) -> int:
    """List the registry; with --check, exit 1 when a needed program is missing here."""
    missing = [p for p in needed() if which(p.name) is None]
    if "--check" not in argv:
        for p in _ALL:
            where = which(p.name) or ("-" if p.optional else "MISSING")
            users = ",".join(sorted(p.users))
            print(f"{p.name:26} {p.package:26} {users:20} {where:36} {p.purpose}")
    for p in missing:
        print(f"missing: {not_found(p.name)}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
