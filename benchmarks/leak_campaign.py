"""A bounded reliability campaign for issue 16, "no leak, whatever happens": `fedprobe vm` run as
Nagios runs it (a subprocess in a session and process group of its own) against one embedded
sandbox (process guests, TLS, loopback), round after round, each round one of:

- fault:   a fault configuration of the sandbox (errors on auth, images, flavors, list, create,
           show, delete or console with 503/500/504 at rate 1.0 or 0.5; latency on create longer
           than the run (a lost answer) or on show/list/boot/delete/gone; stuck_build;
           boot_error; delete_fails; delete_never_completes; console_forbidden; quota_exceeded
           403/413; userdata_not_run; guest_never_boots; a token that expires mid-run);
- sigterm: SIGTERM at a moment drawn uniformly within the run;
- sigkill: SIGKILL of the plugin process alone, likewise;
- killpg:  SIGKILL of its whole process group (what Nagios 4 and Sensu Go do at their timeout);
- outage:  every compute operation answers 503 for 1-4 s, starting at a random moment;
- twins:   two machines of one --monitoring-host (two state directories, two machine ids) run
           at once, one of them against a fault baked into its VM at create.

Signal and outage rounds run on a "backdrop" (a healthy cloud, or a slow boot, a boot that never
ends, a late create answer, a late delete answer or a slow 404 after delete), so that the moment
falls in every phase; the moment is drawn uniformly within the run's expected length (a healthy
run's, measured at the start, plus what the backdrop adds; at most -t).

Each simulated machine has its own temporary FEDPROBE_STATE_DIR for the whole campaign (machine
"a" for the rounds, "b" as the second twin), so that the ledger of earlier runs carries over as
it does on a real monitoring host.

After each round the faults are cleared and the sandbox's live servers (sb.live_servers(): the
campaign's only servers, watched 20 times a second throughout) are polled until none of the
round's is left; how long each lived after its run ended (or was killed) is recorded. A VM that a
run REPORTED as left behind (perfdata leaked=1) is the next run's job: the campaign then starts
that machine's "next run" (a follow-up) 2 s later, as a scheduler would at its next interval. A
VM still there 60 s after its run ended is a LEAK.

Servers that the sandbox made undeletable (delete_fails and delete_never_completes are baked into
the servers created while they are set; the campaign asks the sandbox's store which ones carry
them) are counted apart, "undeletable by design": the run that made one must say CRITICAL "was
NOT deleted" or the follow-up's sweep must WARN that it is "still there" (both are checked and
counted); the follow-up must then not be OK; afterwards they are removed from the sandbox's store
directly (no API call can remove them), so that the final count is honest.

False OK (must be 0): exit 0 when
- the round's fault must make the run fail (rate-1.0 errors, a lost create answer, a boot that
  never ends, ...; 0.5-rate errors, short latencies, an outage and the token expiry may
  legitimately be ridden out, and console_forbidden is UNKNOWN by default);
- a signal was sent while the run was alive and the sandbox had not yet answered the 404 that
  proves its VM gone (a run that finished before the signal is recorded as such, never false);
- a follow-up ran while an undeletable VM of its machine was there;
- or whenever the sandbox's request log does not back the OK: a console read (200), a delete
  (204) and a 404 of the very server the run says it created.

Also counted: exit codes outside 0-3 and exit codes that contradict the status line (must be 0);
runs that exited on their own without a Nagios status line (must be 0); runs killed by a signal
(no exit code of their own; SIGTERM's default action included, i.e. a SIGTERM that came before
the plugin installed its handler); the overrun of -t (wall time from fork to exit minus -t, for
runs not killed); healthy runs that were not OK (false alarms, printed, not failed).

Exit status: 1 if any false OK, bad exit, run without a status line, leak, unreported undeletable
VM, twin that removed the other machine's VM, VM left at the end, or a run that overran -t by
more than OVERRUN_TOLERANCE; else 0.

Run: .venv/bin/python benchmarks/leak_campaign.py [--rounds N] [--seed S] [--timeout T] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import DEVNULL, Popen
from typing import Any

from probes.runner.identity import machine_id
from probes.runner.statedir import prepare
from probes.sandbox import Sandbox, SandboxConfig

HOST = "campaign.example.org"
KINDS = ("fault", "sigterm", "sigkill", "killpg", "outage", "twins")
WEIGHTS = {"fault": 3, "sigterm": 1, "sigkill": 1, "killpg": 1, "outage": 1, "twins": 1}
LEAK_AFTER = 60.0      # a VM still there this long after its run ended is a leak
NEXT_RUN_AFTER = 2.0   # a reported leftover: the machine's next run starts this long after
WATCH_EVERY = 0.05
# The child's machine id comes from its state directory (identity.machine_id does so in a
# container), so that two state directories are two machines wherever the campaign runs.
MACHINE_ENV = {"container": "fedprobe-leak-campaign"}
FIRST = re.compile(r"^FEDCLOUD_VM (OK|WARNING|CRITICAL|UNKNOWN) - (.+?)(?: \| (.*))?$")
STATE_CODE = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
CREATED = re.compile(r"^create\s+passed\s+\S+s server (\S+) accepted", re.M)
SWEEP = re.compile(r"^sweep\s+(\S+)\s+.*$", re.M)
COMPUTE_OPS = ("create", "show", "list", "update", "delete", "console", "action", "metadata",
               "tags", "flavors", "limits")
SERVERS = "/compute/v2.1/servers"


# -- what a round may do ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A fault configuration (fields of probes.sandbox.Faults)."""

    name: str
    faults: dict[str, Any]
    must_fail: bool        # an OK would be a false OK
    baked: bool = False    # snapshotted into the servers made while it is set (usable for twins)
    extra: float = 0.0     # seconds it adds to a healthy run (for signal and outage moments)
    whole: bool = False    # the run lasts its whole -t


def fault_cases(t: float) -> dict[str, list[Case]]:
    """Every fault configuration a fault round draws from, by family."""
    errors = [Case(f"errors {op} {status} rate {rate:g}",
                   {"errors": {op: {"status": status, "rate": rate}}}, must_fail=rate == 1.0)
              for op in ("auth", "images", "flavors", "list", "create", "show", "delete",
                         "console")
              for status in (503, 500, 504) for rate in (1.0, 0.5)]
    long = round(t + 8)
    latency = [
        Case(f"latency create {long}s (lost answer)", {"latency": {"create": long}}, True,
             whole=True),
        Case("latency create 1s (late answer)", {"latency": {"create": 1.0}}, False, extra=1),
        Case(f"latency show {long}s", {"latency": {"show": long}}, True, whole=True),
        Case("latency show 0.3s", {"latency": {"show": 0.3}}, False, extra=2),
        Case(f"latency list {long}s", {"latency": {"list": long}}, True, extra=t / 4),
        Case("latency list 0.5s", {"latency": {"list": 0.5}}, False, extra=1),
        Case(f"latency boot {long}s", {"latency": {"boot": long}}, True, baked=True, whole=True),
        Case("latency boot 2s", {"latency": {"boot": 2.0}}, False, baked=True, extra=2),
        Case(f"latency delete {long}s (lost answer)", {"latency": {"delete": long}}, False,
             whole=True),
        Case("latency gone 2s", {"latency": {"gone": 2.0}}, False, baked=True, extra=2),
    ]
    flags = [
        Case("stuck_build", {"stuck_build": True}, True, baked=True, whole=True),
        Case("boot_error", {"boot_error": "No valid host was found."}, True, baked=True),
        Case("delete_fails", {"delete_fails": True}, True, baked=True),
        Case("delete_never_completes", {"delete_never_completes": True}, True, baked=True,
             whole=True),
        Case("console_forbidden", {"console_forbidden": True}, True),
        Case("quota_exceeded 403", {"quota_exceeded": 403}, True),
        Case("quota_exceeded 413", {"quota_exceeded": 413}, True),
        Case("userdata_not_run", {"userdata_not_run": True}, True, baked=True, whole=True),
        Case("guest_never_boots", {"guest_never_boots": True}, True, baked=True, whole=True),
        Case("token_valid_for 0.3s, boot 1s", {"token_valid_for": 0.3,
                                               "latency": {"boot": 1.0}}, False, extra=1),
    ]
    return {"errors": errors, "latency": latency, "flags": flags}


def backdrops(t: float) -> list[Case]:
    """The clouds signal and outage rounds run on."""
    return [
        Case("healthy", {}, False),
        Case("slow boot 3s", {"latency": {"boot": 3.0}}, False, extra=3),
        Case(f"boot never ends ({2 * t:g}s)", {"latency": {"boot": 2 * t}}, True, whole=True),
        Case("late create answer 2s", {"latency": {"create": 2.0}}, False, extra=2),
        Case("late delete answer 2s", {"latency": {"delete": 2.0}}, False, extra=2),
        Case("slow gone 2s", {"latency": {"gone": 2.0}}, False, extra=2),
    ]


OVERRUN_TOLERANCE = 0.1  # seconds past -t (from fork) a run may end: process start and reaping

@dataclass(frozen=True)
class Plan:
    kind: str
    case: Case
    u: float = 0.0            # where in the run the signal or outage falls (fraction)
    outage: float = 0.0       # seconds
    faulty: str = "a"         # twins: the machine whose run has the fault


def make_plan(rng: random.Random, rounds: int, quick: bool, t: float,
              kinds_only: tuple[str, ...] = (), case_only: str = "") -> list[Plan]:
    """The rounds, all drawn from the seed up front (``kinds_only`` and ``case_only``, a part
    of a case's name, narrow the draw: to reproduce a finding)."""
    def narrow(cs: list[Case]) -> list[Case]:
        return [c for c in cs if case_only in c.name] or cs

    cases = {fam: narrow(cs) for fam, cs in fault_cases(t).items()}
    if case_only:
        cases = {fam: cs for fam, cs in cases.items()
                 if any(case_only in c.name for c in cs)} or cases
    drops = narrow(backdrops(t))
    baked = narrow([c for fam in fault_cases(t).values() for c in fam if c.baked])
    undeletable = [c for c in fault_cases(t)["flags"] if c.name.startswith("delete_")]
    allowed = [k for k in KINDS if not kinds_only or k in kinds_only]
    if quick:  # every kind once, an undeletable VM, and one more fault
        kinds = [*KINDS, "fault:undeletable", "fault"]
    else:
        kinds = allowed[:rounds] + rng.choices(allowed, [WEIGHTS[k] for k in allowed],
                                               k=max(0, rounds - len(allowed)))
    rng.shuffle(kinds)
    plans = []
    for kind in kinds:
        if kind == "fault:undeletable":
            plans.append(Plan("fault", rng.choice(undeletable)))
        elif kind == "fault":
            plans.append(Plan("fault", rng.choice(cases[rng.choice(list(cases))])))
        elif kind == "twins":
            plans.append(Plan("twins", rng.choice(baked), faulty=rng.choice("ab")))
        else:
            plans.append(Plan(kind, rng.choice(drops), u=rng.random(),
                              outage=rng.uniform(1.0, 4.0)))
    return plans


# -- runs, machines and what the sandbox saw ---------------------------------------------------
@dataclass
class Machine:
    name: str
    state_dir: Path
    id: str


@dataclass
class Run:
    label: str
    kind: str                 # the round's kind, or "calibration", "follow-up"
    machine: Machine
    case: str
    must_fail: bool
    timeout: float
    proc: Popen[bytes]
    out_path: Path
    err_path: Path
    seq0: int
    t0: float
    t0_wall: float
    t1: float | None = None
    code: int | None = None
    out: str = ""
    err: str = ""
    signal: str | None = None       # planned
    moment: float | None = None     # planned, seconds after start
    signalled: bool | None = None   # sent while alive (False: the run had ended before)
    signal_wall: float | None = None
    signal_mono: float | None = None
    requests_at_signal: int | None = None
    authed: bool = False            # it had logged in by the signal
    last_at_signal: str = ""        # the last request the sandbox had answered by then
    false_ok: str | None = None
    problems: list[str] = field(default_factory=list)

    exit_at: float | None = None    # set by the reaper thread the moment it exits

    def reap(self) -> None:
        """Wait for the exit in a thread of its own: exact exit times, whatever else waits."""
        def wait() -> None:
            self.proc.wait()
            self.exit_at = time.monotonic()

        threading.Thread(target=wait, name=f"reap-{self.proc.pid}", daemon=True).start()

    def poll(self) -> bool:
        """Whether it has exited (and if so its exit time, code and output are recorded)."""
        if self.code is None:
            if self.exit_at is None:
                return False
            self.t1, self.code = self.exit_at, self.proc.returncode
            self.out = self.out_path.read_text(errors="replace")
            self.err = self.err_path.read_text(errors="replace")
        return True

    def wait(self, until: float | None = None) -> bool:
        """Wait for the exit, or until a monotonic time; whether it exited."""
        while not self.poll():
            if until is not None and time.monotonic() >= until:
                return False
            time.sleep(0.01)
        return True

    @property
    def wall(self) -> float:
        return (self.t1 or time.monotonic()) - self.t0

    @property
    def killed(self) -> bool:
        return self.code is not None and self.code < 0

    @property
    def status(self) -> re.Match[str] | None:
        return FIRST.match(self.out.splitlines()[0]) if self.out.strip() else None

    @property
    def state(self) -> str | None:
        m = self.status
        return m.group(1) if m else None

    @property
    def server(self) -> str | None:
        m = CREATED.search(self.out)
        return m.group(1) if m else None

    @property
    def reported_leftover(self) -> bool:
        m = self.status
        return bool(m and m.group(3) and "leaked=1;" in m.group(3))

    def sweep_line(self) -> str:
        m = SWEEP.search(self.out)
        return m.group(0) if m else ""

    def first_line(self) -> str:
        return self.out.splitlines()[0] if self.out.strip() else "(no output)"

    def describe(self) -> str:
        if self.code is None:
            return "still running"
        if self.killed:
            return f"killed by {signal.Signals(-self.code).name} after {self.wall:.2f}s"
        return f"exit {self.code} after {self.wall:.2f}s: {self.first_line()[:150]}"


@dataclass
class Seen:
    """A server as the watcher saw it."""

    id: str
    machine: str
    first: float
    last: float
    gone_at: float | None = None


class Watcher:
    """Polls the sandbox's live servers throughout the campaign."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.lock = threading.Lock()
        self.seen: dict[str, Seen] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="campaign-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.look()
            self._stop.wait(WATCH_EVERY)

    def look(self) -> None:
        try:
            live = self.sb.live_servers()
        except RuntimeError:  # stopped
            return
        now = time.monotonic()
        with self.lock:
            ids = set()
            for s in live:
                rec = self.seen.get(s["id"])
                if rec is None:
                    rec = self.seen[s["id"]] = Seen(s["id"], s["metadata"].get(
                        "fedprobe.machine", "?"), now, now)
                rec.last, rec.gone_at = now, None
                ids.add(s["id"])
            for rec in self.seen.values():
                if rec.gone_at is None and rec.id not in ids:
                    rec.gone_at = now

    def since(self, t: float) -> list[Seen]:
        with self.lock:
            return [Seen(**vars(r)) for r in self.seen.values() if r.first >= t]

    def alive(self, sid: str) -> bool:
        with self.lock:
            rec = self.seen.get(sid)
            return rec is not None and rec.gone_at is None


def purge(sb: Sandbox, server_id: str) -> bool:
    """Remove a server the sandbox made undeletable from its store, and stop its guest.

    delete_fails and delete_never_completes are baked into a server at create: its life thread
    refuses every delete (or never finishes one) until the sandbox stops, so no API call can
    remove it. Marking it gone is what the store does when a delete completes; the life thread
    then finds no guest to stop when the sandbox closes."""
    cloud = sb.cloud
    if cloud is None:
        return False
    store = cloud.servers
    with store.lock:
        server = store.get(server_id)
        if server is None:
            return False
        server.gone = True
        guest, server.guest = server.guest, None
    if guest is not None:
        guest.stop()
    return True


def baked_undeletable(sb: Sandbox, server_id: str) -> bool:
    """Whether the sandbox's store says this server carries a fault that makes it undeletable."""
    cloud = sb.cloud
    if cloud is None:
        return False
    server = cloud.servers.get(server_id)
    return server is not None and (server.faults.delete_fails or
                                   server.faults.delete_never_completes)


# -- the campaign ------------------------------------------------------------------------------
@dataclass
class Round:
    n: int
    plan: Plan
    t0: float
    runs: list[Run] = field(default_factory=list)
    followups: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Lifetime:
    kind: str
    seconds: float
    by: str          # who removed it: the guardian or the cloud, or the next run


@dataclass
class Summary:
    seed: int
    timeout: float
    rounds: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    runs: int = 0
    false_ok: list[str] = field(default_factory=list)
    bad_exit: list[str] = field(default_factory=list)
    no_status: list[str] = field(default_factory=list)
    killed: Counter[str] = field(default_factory=Counter)
    sigterm_default: list[str] = field(default_factory=list)
    sigterm_kinds: Counter[str] = field(default_factory=Counter)
    finished_before_signal: int = 0
    signalled: int = 0
    overruns: list[tuple[float, str]] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    undeletable: int = 0
    undeletable_own: int = 0
    undeletable_sweep: int = 0
    undeletable_unreported: list[str] = field(default_factory=list)
    undeletable_followup_ok: list[str] = field(default_factory=list)
    leftovers: list[Lifetime] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    cross_machine: list[str] = field(default_factory=list)
    left_at_end: int = 0
    guardians_left: int = 0
    seconds: float = 0.0

    @property
    def overrun(self) -> bool:
        """A run ended later than -t after its fork (beyond the reaping noise)."""
        return any(o > OVERRUN_TOLERANCE for o, _ in self.overruns)

    @property
    def failed(self) -> bool:
        return bool(self.false_ok or self.bad_exit or self.no_status or self.leaks
                    or self.undeletable_unreported or self.cross_machine or self.left_at_end
                    or self.overrun)


class Campaign:
    def __init__(self, sb: Sandbox, root: Path, timeout: float, summary: Summary,
                 say: Callable[[str], None]) -> None:
        self.sb = sb
        self.root = root
        self.timeout = timeout
        self.s = summary
        self.say = say
        self.watcher = Watcher(sb)
        self.machines = {name: self._machine(name) for name in ("a", "b")}
        self.healthy = 1.0  # a healthy run's wall time (calibrated)
        self._n = 0

    def _machine(self, name: str) -> Machine:
        state = prepare(self.root / f"machine-{name}")
        return Machine(name, state, machine_id(state, environ=MACHINE_ENV))

    def seq(self) -> int:
        log = self.sb.request_log()
        return log[-1].seq if log else 0

    # -- one run --------------------------------------------------------------------------
    def start(self, machine: Machine, label: str, kind: str, case: str,
              must_fail: bool) -> Run:
        self._n += 1
        cmd = [sys.executable, "-m", "probes", "vm", "--sites", str(self.sb.sites_yaml),
               "--site", "sandbox", "-t", f"{self.timeout:g}", "--monitoring-host", HOST, "-v"]
        env = {**os.environ, **MACHINE_ENV, "FEDPROBE_STATE_DIR": str(machine.state_dir)}
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        out, err = logs / f"{self._n:03d}.out", logs / f"{self._n:03d}.err"
        seq0 = self.seq()
        with open(out, "wb") as fo, open(err, "wb") as fe:
            t0, t0_wall = time.monotonic(), time.time()
            proc = Popen(cmd, stdout=fo, stderr=fe, stdin=DEVNULL, env=env,
                         start_new_session=True)  # its own session and group, as Nagios does
        self.s.runs += 1
        run = Run(label, kind, machine, case, must_fail, self.timeout, proc, out, err, seq0, t0,
                  t0_wall)
        run.reap()
        return run

    def signal_at(self, run: Run, how: str, moment: float) -> None:
        """Send SIGTERM / SIGKILL / SIGKILL to the group at `moment` s after the start, unless
        the run ended before."""
        run.signal, run.moment = how, moment
        if run.wait(until=run.t0 + moment):
            run.signalled = False
            return
        run.signal_wall, run.signal_mono = time.time(), time.monotonic()
        # what this run had asked by now: requests that started after it did (a late answer
        # of an earlier round is logged when it is sent), its first being its login (a
        # guardian of an earlier round may still be polling, but it logged in long before)
        sent = [r for r in self.sb.request_log(run.seq0) if r.time - r.duration >= run.t0_wall]
        run.requests_at_signal = len(sent)
        run.authed = any(r.operation == "auth" for r in sent)
        run.last_at_signal = f"{sent[-1].operation} {sent[-1].status}" if sent else "none"
        run.signalled = True
        with contextlib.suppress(ProcessLookupError):
            if run.exit_at is not None:  # reaped this very moment: its pid is no longer its
                run.signalled = False
                return
            if how == "sigterm":
                os.kill(run.proc.pid, signal.SIGTERM)
            elif how == "sigkill":
                os.kill(run.proc.pid, signal.SIGKILL)
            else:
                os.killpg(run.proc.pid, signal.SIGKILL)

    def expected(self, case: Case) -> float:
        """How long a run on this cloud is expected to last."""
        if case.whole:
            return self.timeout
        return min(self.timeout, self.healthy + case.extra)

    # -- the kinds ----------------------------------------------------------------------------
    def calibrate(self) -> None:
        rnd = Round(0, Plan("calibration", Case("healthy", {}, False)), time.monotonic())
        run = self.start(self.machines["a"], "calibration", "calibration", "healthy", False)
        run.wait()
        rnd.runs.append(run)
        self.healthy = max(1.0, run.wall)
        self.say(f"calibration: healthy run {run.describe()}")
        if run.code != 0:  # every judgement below assumes the healthy cloud gives OK
            raise RuntimeError(f"a run against the healthy sandbox was not OK:\n{run.out}"
                               f"{run.err}")
        self.settle(rnd)

    def round(self, n: int, plan: Plan) -> Round:
        rnd = Round(n, plan, time.monotonic())
        a = self.machines["a"]
        case = plan.case
        if plan.kind == "fault":
            self.sb.set_faults(**case.faults)
            run = self.start(a, "run", "fault", case.name, case.must_fail)
            rnd.runs.append(run)
            run.wait()
        elif plan.kind in ("sigterm", "sigkill", "killpg"):
            self.sb.set_faults(**case.faults)
            run = self.start(a, "run", plan.kind, case.name, case.must_fail)
            rnd.runs.append(run)
            self.signal_at(run, plan.kind, plan.u * self.expected(case))
            run.wait()
        elif plan.kind == "outage":
            self.sb.set_faults(**case.faults)
            run = self.start(a, "run", "outage", case.name, case.must_fail)
            rnd.runs.append(run)
            delay = plan.u * self.expected(case)
            if run.wait(until=run.t0 + delay):
                rnd.notes.append(f"the run ended before the outage ({delay:.2f}s)")
            else:
                errors = {op: {"status": 503, "rate": 1.0} for op in COMPUTE_OPS}
                self.sb.set_faults(**{**case.faults, "errors": errors})
                hit = self.seq()
                run.wait(until=time.monotonic() + plan.outage)
                self.sb.set_faults(**case.faults)
                n503 = sum(1 for r in self.sb.request_log(hit) if r.status == 503)
                rnd.notes.append(f"outage at {delay:.2f}s for {plan.outage:.1f}s: "
                                 f"{n503} request(s) answered 503")
            run.wait()
        elif plan.kind == "twins":
            faulty = self.machines[plan.faulty]
            other = self.machines["b" if plan.faulty == "a" else "a"]
            self.sb.set_faults(**case.faults)
            f = self.start(faulty, f"twin {faulty.name} (fault)", "twins", case.name,
                           case.must_fail)
            rnd.runs.append(f)
            # the fault is baked into the VM at create: once it shows, clear it for the other
            while not (f.poll() or self._made_by(faulty, f.t0)
                       or time.monotonic() > f.t0 + self.timeout):
                time.sleep(0.02)
            self.sb.set_faults()  # the fault is in its VM; the other twin gets a healthy cloud
            mine = sum(1 for s in self.watcher.since(0) if s.machine == other.id
                       and s.gone_at is None)
            h = self.start(other, f"twin {other.name} (healthy)", "twins", "healthy", False)
            rnd.runs.append(h)
            rnd.notes.append(f"twin {other.name} started {h.t0 - f.t0:.2f}s after twin "
                             f"{faulty.name}")
            f.wait()
            h.wait()
            removed = re.search(r"removed (\d+) stale", h.out)
            if removed and int(removed.group(1)) > mine:
                self.s.cross_machine.append(f"round {rnd.n}: {h.label} removed "
                                            f"{removed.group(1)} VM(s), its machine had {mine}")
        self.settle(rnd)
        return rnd

    def _made_by(self, machine: Machine, since: float) -> bool:
        return any(s.machine == machine.id for s in self.watcher.since(since))

    # -- after a round ------------------------------------------------------------------------
    def settle(self, rnd: Round) -> None:
        """Clear the faults; wait until none of the round's VMs is left (starting a machine's
        next run when a run reported one left); judge every run; remove the undeletable."""
        self.sb.set_faults()
        for run in rnd.runs:
            run.wait()
        self.watcher.look()
        undeletable: dict[str, Seen] = {}
        reported: dict[str, set[str]] = defaultdict(set)   # server -> how it was reported
        followed: set[str] = set()
        owner: dict[str, Run] = {}
        window_end: dict[str, float] = {}
        while True:
            self.watcher.look()
            now = time.monotonic()
            servers = [s for s in self.watcher.since(rnd.t0)]
            runs = rnd.runs + rnd.followups
            for s in servers:
                if s.id not in owner:
                    owner[s.id] = self._owner(s, runs)
                    end = owner[s.id].t1 or now
                    window_end[s.id] = end + LEAK_AFTER
                if s.gone_at is None and s.id not in undeletable and \
                        baked_undeletable(self.sb, s.id):
                    undeletable[s.id] = s
            present = [s for s in servers if s.gone_at is None and s.id not in undeletable]
            # the machine's next run: for a reported leftover, or to see a later sweep warn
            # about an undeletable VM
            for m in self.machines.values():
                if m.name in followed:
                    continue
                due = [s for s in present if s.machine == m.id and owner[s.id].reported_leftover
                       and now - (owner[s.id].t1 or now) >= NEXT_RUN_AFTER]
                keep = [s for s in undeletable.values() if s.machine == m.id]
                if due or keep:
                    followed.add(m.name)
                    run = self.start(m, f"next run on {m.name}", "follow-up",
                                     "healthy" + (f", {len(keep)} undeletable VM(s) there"
                                                  if keep else ""), bool(keep))
                    rnd.followups.append(run)
                    run.wait()
                    for s in keep:
                        if s.id in run.sweep_line() and "still there" in run.sweep_line():
                            reported[s.id].add("later sweep")
                    break
            else:
                if not present:
                    break
                if all(now > window_end[s.id] for s in present):
                    break
                time.sleep(0.05)
                continue
        # judge the runs
        for run in rnd.runs + rnd.followups:
            self.judge(rnd, run)
        # the undeletable: reported?
        for sid, s in undeletable.items():
            run = owner[sid]
            self.s.undeletable += 1
            if run.code is not None and run.code >= 0 and "was NOT deleted" in run.out and \
                    sid in run.out:
                reported[sid].add("own run")
            if "own run" in reported[sid]:
                self.s.undeletable_own += 1
            if "later sweep" in reported[sid]:
                self.s.undeletable_sweep += 1
            if not reported[sid]:
                self.s.undeletable_unreported.append(
                    f"round {rnd.n}: {sid} of {run.label} ({run.case}): {run.describe()}")
            for f in rnd.followups:
                if f.machine.id == s.machine and f.code == 0:
                    self.s.undeletable_followup_ok.append(f"round {rnd.n}: {f.describe()}")
            purge(self.sb, sid)
        self.watcher.look()
        # lifetimes and leaks
        lines = []
        for s in self.watcher.since(rnd.t0):
            if s.id in undeletable:
                continue
            run = owner.get(s.id) or self._owner(s, rnd.runs + rnd.followups)
            end = run.t1 or time.monotonic()
            if s.last < end:
                continue  # gone before its run ended: not a leftover
            gone = s.gone_at
            if gone is None or gone - end > LEAK_AFTER:
                self.s.leaks.append(f"round {rnd.n} ({rnd.plan.kind}: {rnd.plan.case.name}): "
                                    f"VM {s.id} of {run.label}"
                                    + (" (no fedprobe tags: not a probe VM)"
                                       if s.machine == "?" else "") + " still there "
                                    f"{(gone or time.monotonic()) - end:.1f}s after the run "
                                    f"ended; the run: {run.describe()}\n"
                                    + _indent(run.out) + _guardian_tail(run.machine))
                lines.append(f"LEAK: VM {s.id} of {run.label} still there after "
                             f"{LEAK_AFTER:g}s")
                continue
            by = "next run" if any(f.machine.id == s.machine and f.t0 < gone
                                   for f in rnd.followups) else "guardian/cloud"
            self.s.leftovers.append(Lifetime(rnd.plan.kind if rnd.n else "calibration",
                                             max(0.0, gone - end), by))
            lines.append(f"VM {s.id[:8]} of {run.label} was there when the run ended; gone "
                         f"{max(0.0, gone - end):.2f}s later ({by})")
        rnd.notes.extend(lines)
        self.report_round(rnd, undeletable, reported)

    def _owner(self, s: Seen, runs: list[Run]) -> Run:
        """The run that made a server: the last run of its machine started before it showed."""
        mine = [r for r in runs if r.machine.id == s.machine and r.t0 <= s.first + 0.01]
        return (mine or runs)[-1]

    def judge(self, rnd: Round, run: Run) -> None:
        where = f"round {rnd.n} {run.kind} [{run.case}] {run.label}"
        if run.code is None:
            return
        if run.killed:
            name = signal.Signals(-run.code).name
            self.s.killed[name] += 1
            if name == "SIGTERM":  # its default action: the plugin's handler was not in place
                self.sigterm_death(where, run)
            return
        self.s.overruns.append((run.wall - run.timeout, where))
        if "Traceback" in run.err:
            self.s.tracebacks.append(f"{where}: {run.err.strip().splitlines()[-1][:200]}")
        m = run.status
        if run.code not in STATE_CODE.values():
            self.s.bad_exit.append(f"{where}: exit {run.code}: {run.first_line()[:200]}")
        if m is None:
            self.s.no_status.append(f"{where}: exit {run.code}, output {run.out[:300]!r}, "
                                    f"stderr {run.err[-300:]!r}")
            return
        if STATE_CODE[m.group(1)] != run.code:
            self.s.bad_exit.append(f"{where}: exit {run.code} but the status line says "
                                   f"{m.group(1)}")
        if run.code != 0:
            if run.case.startswith("healthy") and not run.must_fail and not run.signalled \
                    and run.kind != "outage":
                self.s.false_alarms.append(f"{where}: {run.first_line()[:200]}")
            return
        why = self.false_ok(run)
        if why:
            run.false_ok = why
            self.s.false_ok.append(f"{where}: {why}\n{_indent(run.out)}")

    def sigterm_death(self, where: str, run: Run) -> None:
        """Sort a run that died of SIGTERM by when the signal came: during start-up (before
        the plugin's handler), after its VM was gone (the handler restored, the result being
        printed or the interpreter exiting), or while its VM existed."""
        at = run.signal_mono or 0.0
        vms = [v for v in self.watcher.since(run.t0) if v.machine == run.machine.id
               and v.first <= at]
        alive = [v.id for v in vms if v.gone_at is None or v.gone_at > at]
        printed = (f"after printing its status line ({run.first_line()[:60]}...)"
                   if run.out.strip() else "before printing anything")
        if not run.authed:
            key, what = "start-up", "before any request (start-up, before its handler)"
        elif alive:
            key, what = "vm alive", f"while its VM {alive[0]} existed, {printed}"
        else:
            key, what = ("after, printed" if run.out.strip() else "after, no output",
                         f"after {run.requests_at_signal} request(s), its VM "
                         + ("gone" if vms else "never made") + f", {printed}")
        self.s.sigterm_kinds[key] += 1
        self.s.sigterm_default.append(f"{where}: died of SIGTERM sent at "
                                      f"{run.moment or 0:.2f}s {what}")

    def false_ok(self, run: Run) -> str | None:
        """Why this OK (exit 0) is false, or None."""
        sid = run.server
        if sid is None:
            return "OK, but no server was created"
        log = [r for r in self.sb.request_log(run.seq0) if r.path.startswith(f"{SERVERS}/{sid}")]
        console = any(r.method == "POST" and r.operation == "console" and r.status == 200
                      for r in log)
        deleted = any(r.method == "DELETE" and r.status == 204 for r in log)
        gone = [r for r in log if r.method == "GET" and r.status == 404]
        if not (console and deleted and gone):
            return (f"OK, but the sandbox saw for {sid}: console 200 {console}, delete 204 "
                    f"{deleted}, 404 {bool(gone)}")
        if run.signalled:
            if run.signal_wall is not None and gone[0].time > run.signal_wall:
                return (f"OK, but {run.signal} came at {run.moment:.2f}s, before the sandbox "
                        f"answered the 404 of {sid}")
            return None  # the lifecycle was over when the signal came
        if run.must_fail:
            return f"OK although the fault [{run.case}] must make the run fail"
        return None

    def report_round(self, rnd: Round, undeletable: dict[str, Seen],
                     reported: dict[str, set[str]]) -> None:
        if rnd.n == 0:
            return
        p = rnd.plan
        head = f"round {rnd.n:>3} {p.kind:<7} {p.case.name}"
        if p.kind in ("sigterm", "sigkill", "killpg") and rnd.runs:
            r = rnd.runs[0]
            head += (f"; {p.kind} at {r.moment or 0:.2f}s"
                     + (f" (last request answered: {r.last_at_signal})" if r.signalled
                        else " (the run had ended)"))
        if p.kind == "twins":
            head += f" on machine {p.faulty}"
        self.say(head)
        for run in rnd.runs + rnd.followups:
            flag = " FALSE OK" if run.false_ok else ""
            self.say(f"      {run.label}: {run.describe()}{flag}")
        for note in rnd.notes:
            self.say(f"      {note}")
        for sid in undeletable:
            how = " and ".join(sorted(reported[sid])) or "NOBODY"
            self.say(f"      undeletable by design: {sid}, reported by {how}; removed from "
                     f"the sandbox's store")


def _indent(text: str) -> str:
    return "".join(f"        | {line}\n" for line in text.splitlines()[:16])


def _guardian_tail(machine: Machine) -> str:
    path = machine.state_dir / "guardian.log"
    try:
        lines = path.read_text(errors="replace").splitlines()[-6:]
    except OSError:
        return ""
    return "".join(f"        guardian.log | {line}\n" for line in lines)


def _guardians(root: Path) -> list[int]:
    """Guardian processes of this campaign's machines still running."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            if b"probes.runner.guardian" not in cmd:
                continue
            env = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"FEDPROBE_STATE_DIR={root}".encode() in env:
            found.append(int(proc.name))
    return found


def _p50(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}s" if xs else "-"


def print_summary(s: Summary, say: Callable[[str], None]) -> None:
    say("")
    say(f"== leak campaign: seed {s.seed}, -t {s.timeout:g}, {s.seconds:.0f}s ==")
    say(f"runs: {s.runs} ({s.rounds} rounds, calibration and follow-ups included)")
    say("rounds per kind: " + ", ".join(f"{k} {s.kinds[k]}" for k in KINDS))
    say(f"false OKs: {len(s.false_ok)} (must be 0)")
    for x in s.false_ok:
        say(f"  {x}")
    say(f"exit codes outside 0-3 or contradicting the status line: {len(s.bad_exit)} "
        "(must be 0)")
    for x in s.bad_exit:
        say(f"  {x}")
    say(f"runs that exited without a Nagios status line: {len(s.no_status)} (must be 0)")
    for x in s.no_status:
        say(f"  {x}")
    killed = ", ".join(f"{k} {v}" for k, v in sorted(s.killed.items())) or "none"
    say(f"killed by a signal (no exit code of their own): {killed}")
    if s.sigterm_default:
        k = s.sigterm_kinds
        say(f"  died of SIGTERM (its default action): in start-up, before the plugin's "
            f"handler and any request {k['start-up']}; after the run's VM was gone, the "
            f"handler restored: {k['after, printed'] + k['after, no output']} "
            f"({k['after, no output']} before printing a status line); while its VM "
            f"existed {k['vm alive']}")
        for x in s.sigterm_default:
            say(f"    {x}")
    say(f"signal rounds: signal sent to a live run {s.signalled}, run had ended before the "
        f"signal {s.finished_before_signal}")
    if s.overruns:
        worst = max(s.overruns)
        over = [o for o in s.overruns if o[0] > 0]
        say(f"overrun of -t (wall time from fork to exit minus -t, runs not killed): max "
            f"{worst[0]:+.2f}s ({worst[1]}); runs over -t: {len(over)} of {len(s.overruns)}")
        for sec, where in sorted(over, reverse=True)[:5]:
            say(f"  {sec:+.2f}s {where}")
    say(f"undeletable by design: {s.undeletable} (reported by their own run "
        f"{s.undeletable_own}, by a later sweep {s.undeletable_sweep}, by neither "
        f"{len(s.undeletable_unreported)}: must be 0); follow-ups OK while one was there: "
        f"{len(s.undeletable_followup_ok)} (counted as false OKs)")
    for x in s.undeletable_unreported:
        say(f"  {x}")
    by_kind: dict[str, list[float]] = defaultdict(list)
    for life in s.leftovers:
        by_kind[life.kind].append(life.seconds)
    say(f"VMs still there when their run ended (leftovers): {len(s.leftovers) + len(s.leaks)};"
        f" leaks (still there {LEAK_AFTER:g}s after): {len(s.leaks)} (must be 0)")
    if s.leftovers:
        allx = [x.seconds for x in s.leftovers]
        say(f"  leftover lifetime after the run ended: max {max(allx):.2f}s, p50 {_p50(allx)}")
        for kind in [*KINDS, "calibration"]:
            xs = by_kind.get(kind)
            if xs:
                who = Counter(x.by for x in s.leftovers if x.kind == kind)
                say(f"    {kind:<8} n={len(xs):<3} p50 {_p50(xs)}  max {max(xs):.2f}s  "
                    f"(removed by " + ", ".join(f"{k} {v}" for k, v in sorted(who.items()))
                    + ")")
    for x in s.leaks:
        say(f"  LEAK {x}")
    if s.cross_machine:
        say(f"twins that removed the other machine's VM: {len(s.cross_machine)} (must be 0)")
        for x in s.cross_machine:
            say(f"  {x}")
    say(f"healthy runs not OK (false alarms, not failed on): {len(s.false_alarms)}")
    for x in s.false_alarms:
        say(f"  {x}")
    if s.tracebacks:
        say(f"runs with a traceback on stderr: {len(s.tracebacks)}")
        for x in s.tracebacks:
            say(f"  {x}")
    say(f"guardians still running at the end (told a create answer was lost: they look for "
        f"it until their deadline + 60 s): {s.guardians_left}")
    say(f"VMs left at the end: {s.left_at_end} (must be 0)")
    say(f"result: {'FAILED' if s.failed else 'passed'} (seed {s.seed})")


def run_campaign(rounds: int = 40, seed: int | None = None, timeout: float = 12.0,
                 quick: bool = False, say: Callable[[str], None] = print,
                 kinds: tuple[str, ...] = (), case: str = "", keep: bool = False) -> Summary:
    """Run the campaign and return its figures (printed as it goes)."""
    seed = secrets.randbelow(2**31) if seed is None else seed
    rng = random.Random(seed)
    plans = make_plan(rng, rounds, quick, timeout, kinds, case)
    s = Summary(seed, timeout, rounds=len(plans))
    started = time.monotonic()
    say(f"leak campaign: seed {seed}, {len(plans)} rounds, -t {timeout:g}"
        + (" (quick)" if quick else ""))
    root = Path(tempfile.mkdtemp(prefix="fedprobe-campaign-"))
    config = SandboxConfig.model_validate({"guests": {"kind": "process"}, "seed": seed})
    sb = Sandbox(config, tls=True).start()
    camp: Campaign | None = None
    try:
        if sb.guest_kind != "process":
            raise RuntimeError(f"process guests expected, the sandbox runs {sb.guest_kind}")
        camp = Campaign(sb, root, timeout, s, say)
        camp.watcher.start()
        camp.calibrate()
        for n, plan in enumerate(plans, 1):
            s.kinds[plan.kind] += 1
            rnd = camp.round(n, plan)
            for run in rnd.runs:
                if run.signalled is not None:
                    s.signalled += run.signalled
                    s.finished_before_signal += not run.signalled
        # the end: everything gone?
        end = time.monotonic() + 10
        while sb.live_servers() and time.monotonic() < end:
            time.sleep(0.1)
        for left in sb.live_servers():
            say(f"left at the end: {left['id']} {left['name']} {left['status']} "
                f"{left['metadata']}")
        s.left_at_end = len(sb.live_servers())
        wait = time.monotonic() + 3
        while _guardians(root) and time.monotonic() < wait:
            time.sleep(0.2)
        s.guardians_left = len(_guardians(root))
    finally:
        if camp is not None:
            camp.watcher.stop()
        sb.stop()
        if s.failed or keep:
            say(f"logs (each run's stdout and stderr, the machines' state directories) kept "
                f"in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    s.seconds = time.monotonic() - started
    print_summary(s, say)
    return s


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print; 1 if the campaign found a false OK, a bad exit, a leak or
    a VM left."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--timeout", "-t", type=float, default=None,
                        help="the plugin's -t (default 12; 8 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="CI size: 8 rounds, every kind at least once")
    parser.add_argument("--kinds", default="",
                        help=f"only these kinds, comma-separated ({', '.join(KINDS)})")
    parser.add_argument("--case", default="",
                        help="only fault cases and backdrops whose name contains this")
    parser.add_argument("--keep", action="store_true",
                        help="keep the logs and state directories (kept anyway on failure)")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    if set(kinds) - set(KINDS):
        parser.error(f"--kinds: expected some of {', '.join(KINDS)}")
    timeout = args.timeout if args.timeout is not None else (8.0 if args.quick else 12.0)
    s = run_campaign(args.rounds, args.seed, timeout, args.quick, kinds=kinds, case=args.case,
                     keep=args.keep)
    return 1 if s.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
