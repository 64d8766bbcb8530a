"""`make demo`: start the embedded sandbox cloud (HTTPS with its own test CA) and run the real
Nagios plugin `fedprobe vm -v` against it, as a scheduler would; then stop the sandbox and show
that nothing was left behind. Exit status: the plugin's (0 OK)."""

from __future__ import annotations

import subprocess
import sys
import time

from probes.sandbox import Sandbox, SandboxConfig, SandboxConfigError, SandboxStartError

WHY = {"qemu": "real tiny VMs: a Debian kernel under QEMU (TCG), a config drive, a serial "
               "console, IPv4 and IPv6 on a tap, a metadata service",
       "namespace": "each VM is a network namespace with real IPv4 and IPv6 addresses and a "
                    "metadata service",
       "process": "each VM is a process on loopback addresses"}


def _start() -> tuple[Sandbox, str]:
    """QEMU guests when this machine can (root, QEMU, the tiny image buildable), else the
    sandbox's own choice (namespace guests as root, else processes); and why not QEMU."""
    try:
        qemu = SandboxConfig.model_validate({"guests": {"kind": "qemu"}})
        return Sandbox(qemu, tls=True).start(), ""
    except (SandboxConfigError, SandboxStartError) as exc:
        return Sandbox(tls=True).start(), str(exc)


def main() -> int:
    """Start, probe, stop; print as an operator would read it."""
    print("fedprobe demo: the VM lifecycle probe against the embedded sandbox cloud\n")
    print("starting the sandbox cloud (the first time, this builds its tiny VM image from two "
          "Debian packages: about half a minute)", flush=True)
    try:
        sb, not_qemu = _start()
    except (SandboxConfigError, SandboxStartError) as exc:
        print(f"demo: the sandbox did not start: {exc}", file=sys.stderr)
        return 3
    try:
        print(f"sandbox cloud: {sb.auth_url} (HTTPS, CA {sb.ca_file})")
        print(f"guests:        {sb.guest_kind} ({WHY[sb.guest_kind]})")
        if not_qemu:
            print(f"               (not QEMU: {not_qemu})")
        cmd = ["fedprobe", "vm", "-v", "--sites", str(sb.sites_yaml), "--site", "sandbox",
               "-t", "120"]
        print(f"running:       {' '.join(cmd)}\n")
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "probes", *cmd[1:]], capture_output=True,
                              text=True, timeout=150, check=False)
        print(proc.stdout + proc.stderr, end="")
        states = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
        print(f"\nplugin exit status {proc.returncode} "
              f"({states.get(proc.returncode, 'not a Nagios state: the plugin crashed')}) "
              f"after {time.monotonic() - start:.1f}s")
        left = sb.live_servers()
        print(f"servers left in the sandbox: {len(left)}")
    finally:
        sb.stop()
    return proc.returncode if not left else 2


if __name__ == "__main__":
    sys.exit(main())
