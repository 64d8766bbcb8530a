"""The VM probe's efficiency against the sandbox, on four profiles of injected waits, next to
ARGO's novaprobe.

Per profile (a sandbox of process guests with those waits, a state directory of its own, so
the first run knows nothing of the site and the later ones pace their polls from the runs
before; median of N runs) it prints:
- HTTP requests per run (from the sandbox's request log), by operation, next to novaprobe's;
- the reported boot time's error against the injected boot (the sandbox counts a boot from
  the server's creation to ACTIVE; the probe reports it from Nova's `created` and
  `OS-SRV-USG:launched_at`, whole seconds, kept within what its polls saw);
- the probe's overhead: its run time minus the injected waits, each counted once (a probe that
  asks twice waits twice: that is its own cost; the create's late answer overlaps the boot,
  which the sandbox counts from the server's creation); and, beside it, its run time minus
  what the sandbox itself took (the true boot and deletion, the injected auth and API waits):
  what is left is the probe's own cost and the guest's user-data run.

novaprobe 0.11.2 (argo-probe-fedcloud) was measured once against the same sandbox and profiles;
it is not installable from a registry, so its figures are constants here: 16 / 17 / 17 / 19
requests per run. It sleeps 10 s between polls.

Goals (issue 20): requests per run <= novaprobe's on every profile; boot error <= 1 s; overhead
<= 0.3 s on the profile with no waits. QEMU guests: benchmarks/qemu_boot.py (overhead over the
guest's own boot <= 1 s).

Run: .venv/bin/python benchmarks/lifecycle_overhead.py [--runs N] [--profile NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from probes.sandbox import Sandbox, SandboxConfig


@dataclass(frozen=True)
class Profile:
    name: str
    latency: dict[str, float]
    novaprobe: int  # requests per run, measured once (see the module's docstring)

    @property
    def injected(self) -> float:
        """What the probe must wait at least: every injected wait once — but a boot counts
        from the server's creation, so the create's late answer is part of it."""
        lat = dict(self.latency)
        boot = max(lat.pop("boot", 0.0), lat.pop("create", 0.0))
        return boot + sum(lat.values())


PROFILES = (
    Profile("no waits", {}, 16),
    Profile("auth 0.5 s, create 1 s, boot 3 s, gone 1 s",
            {"auth": 0.5, "create": 1.0, "boot": 3.0, "gone": 1.0}, 17),
    Profile("boot 8 s", {"boot": 8.0}, 17),
    Profile("boot 30 s", {"boot": 30.0}, 19),
)
BOOT_ERROR_GOAL = 1.0
OVERHEAD_GOAL = 0.3  # on the profile with no waits


@dataclass(frozen=True)
class Run:
    requests: Counter[str]
    total: float
    boot: float            # the boot the probe reported
    boot_true: float       # creation to ACTIVE, by the sandbox's own clock
    cloud: float           # what the sandbox took: true boot and deletion, auth's wait


def one_run(sb: Sandbox, state: Path, out: Path) -> Run:
    since = sb.request_log()[-1].seq if sb.request_log() else 0
    proc = subprocess.run(
        [sys.executable, "-m", "probes", "vm", "--sites", str(sb.sites_yaml), "--site",
         "sandbox", "-t", "120", "--state-dir", str(state), "--json", str(out)],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"})
    if proc.returncode != 0:
        raise SystemExit(f"the probe said: {proc.stdout.splitlines()[:1]} (exit "
                         f"{proc.returncode})")
    doc = json.loads(out.read_text())
    phases = {p["name"]: p for p in doc["phases"]}
    server = sb.server_times(doc["server_id"])
    if server.launched is None or server.deleted is None or server.ended is None:
        raise SystemExit("the sandbox saw the server never ACTIVE, or not gone")
    log = sb.request_log(since)
    auth = sum(e.duration for e in log if e.operation == "auth")
    boot = server.launched - server.created
    return Run(Counter(e.operation for e in log), doc["total_seconds"],
               float(phases["boot"]["seconds"]), boot, auth + boot + server.ended - server.deleted)


def profile_runs(profile: Profile, runs: int) -> list[Run]:
    config = SandboxConfig.model_validate({"delete_delay": 0.0, "guests": {"kind": "process"},
                                           "faults": {"latency": profile.latency}})
    with Sandbox(config, tls=True) as sb, tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        done = [one_run(sb, state, Path(tmp) / f"run{i}.json") for i in range(runs)]
        if sb.live_servers():
            raise SystemExit(f"{profile.name}: servers left in the sandbox")
        return done


def main() -> int:
    """Measure and print; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description="fedprobe vm efficiency against the sandbox")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="append", choices=[p.name for p in PROFILES],
                        help="only these profiles (repeat; default: all four)")
    args = parser.parse_args()
    met = True
    print(f"fedprobe vm against the sandbox (process guests), median of {args.runs} runs per "
          "profile; the first run of each knows nothing of the site")
    for profile in PROFILES:
        if args.profile and profile.name not in args.profile:
            continue
        done = profile_runs(profile, args.runs)
        requests = statistics.median(sum(r.requests.values()) for r in done)
        errors = [abs(r.boot - r.boot_true) for r in done]
        overhead = statistics.median(r.total - profile.injected for r in done)
        ops = Counter[str]()
        for r in done:
            ops.update(r.requests)
        light = requests <= profile.novaprobe
        exact = max(errors) <= BOOT_ERROR_GOAL
        quick = overhead <= OVERHEAD_GOAL or bool(profile.latency)
        met = met and light and exact and quick
        print(f"\n{profile.name} (injected waits {profile.injected:g} s):")
        print(f"  requests per run  {requests:g} (novaprobe {profile.novaprobe}: "
              f"{'met' if light else 'MISSED'}); first run {sum(done[0].requests.values())}; "
              + ", ".join(f"{op} {n / len(done):g}" for op, n in sorted(ops.items())))
        print(f"  boot reported     median {statistics.median(r.boot for r in done):.2f} s, "
              f"true {statistics.median(r.boot_true for r in done):.2f} s; error max "
              f"{max(errors):.2f} s (goal <= {BOOT_ERROR_GOAL:g} s: "
              f"{'met' if exact else 'MISSED'})")
        goal = (f" (goal <= {OVERHEAD_GOAL} s: {'met' if quick else 'MISSED'})"
                if not profile.latency else "")
        print(f"  overhead          median {overhead:.3f} s, max "
              f"{max(r.total - profile.injected for r in done):.3f} s (run time "
              f"{statistics.median(r.total for r in done):.2f} s minus the injected "
              f"waits){goal}; minus what the sandbox took: median "
              f"{statistics.median(r.total - r.cloud for r in done):.3f} s")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
