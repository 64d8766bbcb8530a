"""The VM lifecycle runner: auth -> discover -> sweep -> create -> boot -> reach_v4/v6 ->
context -> mjf, then always delete -> gone. Each phase is timed and has its own outcome; one
deadline bounds the run, and cleanup has time of its own that signals do not take away."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from probes.config.site import Site
from probes.deadline import Deadline, DeadlineExceeded
from probes.drivers.base import (
    CloudDriver,
    Discovery,
    DriverError,
    Identity,
    NotFound,
    ServerSpec,
    ServerState,
    ServerStatus,
)
from probes.guest.script import user_data
from probes.runner import remove
from probes.runner.custody import Custody, GuardianLike
from probes.runner.guest import check_context, check_mjf
from probes.runner.identity import StateDirError
from probes.runner.inbox import Channel
from probes.runner.ledger import CREATED, LEAKED, LOST, Entry, Ledger, RunLock, forget_lock
from probes.runner.pacing import History, Watch
from probes.runner.reach import tcp
from probes.runner.result import PHASES, LifecycleResult, Outcome, Phase
from probes.runner.sweep import AGE_FLOOR, KEY_RUN, sweep, tags

log = logging.getLogger(__name__)

DriverFactory = Callable[[Site], CloudDriver]  # the site's driver, not yet connected


CLEANUP = ("delete", "gone")
SWEEP_SHARE = 0.25   # of the run's phase time, at most, for the sweep (a hung list included)
CREATE_NEEDS = 0.5   # of the run's phase time left, at least, to create a VM and watch it


class _Stop(Exception):
    """A phase failed: the phases after it are SKIPPED."""


@dataclass
class _Timer:
    name: str
    start: float
    outcome: Outcome = Outcome.PASSED
    detail: str = ""
    data: dict[str, Any] | None = None
    seconds: float | None = None  # what the phase took by better evidence than its wall time

    def done(self, outcome: Outcome, detail: str, **data: Any) -> None:
        self.outcome, self.detail, self.data = outcome, detail, data


class LifecycleRunner:
    """Runs one probe VM through its life against one site."""

    def __init__(self, site: Site, custody: Custody, deadline: Deadline, hard: Deadline,
                 driver_factory: DriverFactory, channel: Channel | None = None) -> None:
        self.site = site
        self.custody = custody
        self.identity = custody.identity
        self.deadline = deadline  # the run's phases; cancelled by SIGTERM/SIGINT
        self.hard = hard          # the whole -t, for cleanup; never cancelled
        self.budget = deadline.left()
        self.driver_factory = driver_factory
        self.channel = channel  # where the guest may post its report (None: no listener)
        self.ledger = Ledger(custody.state_dir, site.name)
        self.history = History(custody.state_dir, site.name)  # when transitions came lately
        self.guardian: GuardianLike | None = None
        self.maybe_created = False  # the create failed in a way that may have made a server
        self.uncertain: str | None = None  # what may be left, when nothing proves either way
        self.present: int | None = None    # this host's leftovers seen at the site (sweep)
        self.run_id = secrets.token_hex(8)
        self.nonce = secrets.token_hex(16)
        self.phases: dict[str, Phase] = {}
        self.driver: CloudDriver | None = None
        self.login: Identity | None = None
        self.server_id: str | None = None
        self.create_sent = False
        self._create_sent_at = 0.0  # monotonic, when the create request went out
        self._boot: Watch | None = None  # the looks that saw the VM become ACTIVE
        self.leaked: str | None = None
        self._status_addresses: tuple[tuple[int, str], ...] = ()
        self._metadata: dict[str, str] = {}

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[_Timer]:
        if self.deadline.cancelled and name not in CLEANUP:
            raise _Stop(name)  # after a signal only cleanup starts (the rest is SKIPPED)
        timer = _Timer(name, time.monotonic())
        try:
            yield timer
        except DeadlineExceeded as exc:
            # Interrupted by a signal: we do not know how the site is, only that we stopped.
            outcome = Outcome.UNAVAILABLE if self.deadline.cancelled else Outcome.FAILED
            last = (timer.data or {}).get("last_error")
            timer.done(outcome, f"{exc} after {time.monotonic() - timer.start:.1f}s"
                       + (f" (last error: {last})" if last else ""), **(timer.data or {}))
        except NotFound as exc:
            timer.done(Outcome.FAILED, str(exc), available=list(exc.available))
        except (DriverError, StateDirError) as exc:
            timer.done(Outcome.FAILED, str(exc))
        except Exception as exc:  # a bug or an answer nobody foresaw: this phase failed
            log.exception("%s phase failed unexpectedly", name)
            timer.done(Outcome.FAILED, f"internal error: {type(exc).__name__}: "
                                       f"{str(exc)[:200]}", error=type(exc).__name__)
        finally:
            if self.deadline.cancelled and name not in CLEANUP and \
                    timer.outcome == Outcome.FAILED:  # what failed may be the interruption
                timer.outcome = Outcome.UNAVAILABLE
                timer.detail = f"interrupted by {self.deadline.why()}: {timer.detail}"
            wall = time.monotonic() - timer.start
            self.phases[name] = Phase(name, timer.outcome, timer.detail,
                                      wall if timer.seconds is None else timer.seconds,
                                      MappingProxyType(timer.data or {}))
        stops = timer.outcome == Outcome.FAILED or (timer.outcome == Outcome.UNAVAILABLE and
                                                    self.deadline.cancelled)
        if stops and name not in ("sweep", "reach_v4", "reach_v6"):
            raise _Stop(name)

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> LifecycleResult:
        """Run every phase; whatever happens, clean up; return the typed result."""
        start = time.monotonic()
        lock: RunLock | None = None
        try:
            lock = RunLock(self.custody.state_dir, self.run_id)  # held while the run lives
            self._main(lock)
        except _Stop:
            pass
        except StateDirError as exc:
            log.error("VM lifecycle not run: %s", exc)
            self.phases["auth"] = Phase("auth", Outcome.FAILED, f"not run: {exc}", 0.0)
        except Exception:  # outside any phase (a bug): the phases record what ran
            log.exception("VM lifecycle stopped unexpectedly")
        finally:
            try:
                self._cleanup()
            except Exception:
                log.exception("VM cleanup stopped unexpectedly")
                self.leaked = self.server_id
            settled = self._settle()
            self.history.save()
            if self.channel is not None:
                self.channel.inbox.forget(self.nonce)
            if lock is not None:
                lock.release()
                if settled:  # nothing of this run is left to anyone: its lock file goes
                    forget_lock(self.custody.state_dir, self.run_id)
        phases = tuple(self.phases.get(n) or self._skipped(n) for n in PHASES)
        return LifecycleResult(self.site.name, self.site.driver, self.run_id, phases,
                               time.monotonic() - start, self.server_id, self.leaked,
                               self.deadline.reason if self.deadline.cancelled else None,
                               self.uncertain, self._present())

    def _skipped(self, name: str) -> Phase:
        if self.deadline.cancelled:
            return Phase(name, Outcome.SKIPPED, f"not run: interrupted by {self.deadline.why()}")
        failed = next((p.name for p in self.phases.values() if p.outcome in (
            Outcome.FAILED, Outcome.UNAVAILABLE) and p.name not in ("sweep", "reach_v4",
                                                                    "reach_v6")), None)
        why = f"not run: {failed} did not pass" if failed else "not run"
        return Phase(name, Outcome.SKIPPED, why)

    def _main(self, lock: RunLock) -> None:
        with self._phase("auth") as ph:
            self.driver = self.driver_factory(self.site)
            self.login = self.driver.connect(self.deadline)
            ph.done(Outcome.PASSED, f"{self.login.method}; {self.login.scope_kind} "
                                    f"{self.login.scope}", method=self.login.method)
        driver = self.driver
        with self._phase("discover") as ph:
            found = driver.discover(self.deadline)
            ph.done(Outcome.PASSED, _describe(found), image=found.image.name,
                    flavor=found.flavor.name, network=found.network.name if found.network
                    else "auto", network_why=found.network.detail if found.network
                    else "no usable network: the cloud chooses (auto)",
                    flavors_available=list(found.flavor.available))
        self._sweep(driver)
        self._create_and_boot(driver, found, lock)
        self._reach(4)
        self._reach(6)
        with self._phase("context") as ph:
            report = None
            if self.site.policy.context == "off":  # and so is mjf (Policy allows nothing else)
                ph.done(Outcome.SKIPPED, "not checked (site policy: context off)")
            else:
                # the report comes a while after the VM became ACTIVE, whenever the probe saw
                # that: its history counts from then (the boot's estimate), and learns only
                # from runs that know both moments closely (a look missed each just before)
                boot = self._boot
                active = boot.came_at() if boot is not None else None
                since = time.monotonic() - active if active is not None else 0.0
                expect = self.history.expect("context")
                watch = Watch(None if expect is None else expect - since)
                report = check_context(driver, self.server_id or "", self.nonce,
                                       self._status_addresses, ph, self.deadline.child(120),
                                       self.channel, watch)
                came = watch.estimate()
                if came is not None and watch.precise() and boot is not None and boot.precise():
                    self.history.saw("context", came + since)
        with self._phase("mjf") as ph:
            check_mjf(report, self.site, ph, driver.capabilities)

    def _cloud(self) -> str:
        return self.login.account if self.login else ""

    def _sweep(self, driver: CloudDriver) -> None:
        with self._phase("sweep") as ph:
            ended, live = self.ledger.split(self._cloud())
            if "tags" not in driver.capabilities:
                ph.done(Outcome.UNAVAILABLE, f"not checked: the {driver.name} driver cannot "
                                             "find its servers by tags", missing="tags")
                return
            # a hung list or delete costs the sweep, not the run
            budget = self.deadline.child(SWEEP_SHARE * self.budget)
            swept = sweep(driver, self.identity, self.run_id, ended, live,
                          max(AGE_FLOOR, self.site.sweep_max_age), budget)
            if swept.forgotten:
                self.ledger.remove(*swept.forgotten)
            self.present = swept.present
            outcome = Outcome.WARNED if swept.failed else Outcome.PASSED
            ph.done(outcome, f"removed {len(swept.removed)} stale probe VM(s) of this host"
                    + (f"; {len(swept.failed)} still there: {'; '.join(swept.details)[:400]}"
                       if swept.failed else ""),
                    removed=list(swept.removed), failed=list(swept.failed),
                    young=swept.kept_young, live=swept.kept_live)

    def _create_and_boot(self, driver: CloudDriver, found: Discovery, lock: RunLock) -> None:
        with self._phase("create") as ph:
            left = self.deadline.left()
            if left < CREATE_NEEDS * self.budget:
                ph.done(Outcome.FAILED, f"not created: {left:.1f}s left of {self.budget:.1f}s, "
                                        "too little to watch the VM and delete it")
                return
            post = None
            if self.channel is not None and "report_channel" in driver.capabilities:
                post = self.channel.post_url(self.nonce)
                self.channel.inbox.expect(self.nonce)
            spec = ServerSpec(found.image.id, found.flavor.id,
                              found.network.id if found.network else None,
                              user_data(self.nonce, post), tags(self.identity, self.run_id))
            until = time.time() + self.hard.left()
            self.ledger.put(Entry(self.run_id, self.site.name, self._cloud(),
                                  self.identity.role, os.getpid(), time.time(), until))
            self.guardian = self.custody.spawn(
                {"site": self.site.model_dump(mode="json"), "run": self.run_id,
                 "state_dir": str(self.custody.state_dir), "until": until},
                self.custody.state_dir, lock.fd)
            self.create_sent = True
            self.guardian.tell(creating=True)
            self._create_sent_at = time.monotonic()
            try:
                self.server_id = driver.create(spec, self.deadline)
            except DriverError as exc:
                self.maybe_created = exc.maybe_done  # a timeout, a 504: it may have been made
                raise
            self.guardian.tell(server=self.server_id)
            self.ledger.update(self.run_id, state=CREATED, server=self.server_id)
            ph.done(Outcome.PASSED, f"server {self.server_id} accepted", server=self.server_id)
        with self._phase("boot") as ph:
            errors, last = 0, ""
            watch = Watch(self.history.expect("boot"))
            for _ in watch.looks(self.deadline, cap=10.0):
                try:
                    status = driver.status(self.server_id or "", self.deadline)
                except DriverError as exc:  # a 503 or a timeout: polling is repeatable
                    if not exc.transient:
                        raise
                    errors, last = errors + 1, str(exc)
                    ph.data = {"poll_errors": errors, "last_error": last}
                    continue
                if status.state == ServerState.ACTIVE:
                    seen = watch.hit()
                    self.history.saw("boot", watch.estimate())
                    self._boot = watch
                    self._status_addresses = status.addresses
                    self._metadata = status.metadata
                    shown = ", ".join(a for _, a in status.addresses) or "no addresses"
                    evidence = self._boot_evidence(status, watch.missed)
                    ph.seconds = evidence
                    ph.done(Outcome.PASSED, f"ACTIVE; {shown}"
                            + (f" ({errors} status poll(s) failed and were repeated)"
                               if errors else ""), poll_errors=errors,
                            seen_after=round(seen, 3),
                            **({"cloud_seconds": evidence} if evidence is not None else {}))
                    break
                watch.miss()
                if status.state in (ServerState.ERROR, ServerState.GONE,
                                    ServerState.DELETING):
                    ph.done(Outcome.FAILED, f"status {status.raw}"
                            + (f": {status.fault}" if status.fault else ""))
                    break

    def _boot_evidence(self, status: ServerStatus, missed: float | None) -> float | None:
        """Creation to ACTIVE by the cloud's own timestamps, narrowed by what the looks saw:
        the timestamps are whole seconds (the truth is within a second of their difference);
        the server was made between the create's sending and its answer, and became ACTIVE
        after the last look that missed it and before the one that saw it. The middle of
        what both allow (the timestamps' difference itself if they disagree)."""
        if status.created is None or status.launched is None:
            return None
        stamped = status.launched - status.created
        low = max(stamped - 1.0, missed or 0.0, 0.0)
        high = min(stamped + 1.0, time.monotonic() - self._create_sent_at)
        return round((low + high) / 2 if low <= high else max(stamped, 0.0), 3)

    def _reach(self, version: int) -> None:
        name = f"reach_v{version}"
        need = self.site.policy.ipv4 if version == 4 else self.site.policy.ipv6
        with self._phase(name) as ph:
            if need == "off":
                ph.done(Outcome.SKIPPED, f"not checked (site policy: ipv{version} off)")
                return
            driver = self.driver
            if version == 6 and driver is not None and "ipv6" not in driver.capabilities:
                ph.done(Outcome.UNAVAILABLE, f"not checked: the {driver.name} driver cannot "
                                             "give a server an IPv6 address", missing="ipv6")
                return
            addrs = [a for v, a in self._status_addresses if v == version]
            if not addrs:  # looked, found none: a finding (the policy says what it is worth)
                ph.done(Outcome.FAILED, f"no IPv{version} address")
                return
            port = self.site.port
            key = self.site.port_metadata_key
            given = self._metadata.get(key, "") if key else ""
            if given.isascii() and given.isdigit() and 0 < int(given) <= 65535:
                port = int(given)  # (isdigit alone takes "²", which int() refuses)
            budget = self.deadline.child(60)
            results = [tcp(a, port, budget, self.site.icmp) for a in addrs]
            ok = [r for r in results if r.ok]
            shown = [f"[{r.address}]" if version == 6 else r.address for r in results]
            pings = {None: "", True: ", ping ok", False: ", no ping reply"}
            detail = "; ".join(f"{s}:{port} " + (f"open after {r.seconds:.2f}s" if r.ok
                                                  else f"{r.error}") + pings[r.icmp]
                               + (f", ping not run: {r.icmp_error}" if r.icmp_error else "")
                               for s, r in zip(shown, results, strict=True))
            ph.done(Outcome.PASSED if ok else Outcome.FAILED, detail,
                    addresses=[r.address for r in results], port=port,
                    icmp=[r.icmp for r in results])

    # -- cleanup ---------------------------------------------------------------------------------
    def _cleanup(self) -> None:
        driver = self.driver
        if driver is None or not self.create_sent:
            return
        # requests during cleanup are bounded by -t (self.hard), not the run
        with contextlib.suppress(_Stop), self._phase("delete") as ph:
            if self.server_id is None:  # the create answer was lost: find it by its run id
                found, err = remove.find_run(driver, {KEY_RUN: self.run_id}, self.hard,
                                             keep_looking=self.maybe_created)
                self.server_id = found[0].id if found else None
                if self.server_id is None:
                    if self.maybe_created or err:
                        self.uncertain = (f"create answer lost: a server may appear (run "
                                          f"{self.run_id}; the next run removes it)")
                        ph.done(Outcome.FAILED, self.uncertain + (f"; last list error: {err}"
                                                                  if err else ""))
                    else:
                        ph.done(Outcome.PASSED, "no server was created")
                    return
                if self.guardian is not None:
                    self.guardian.tell(server=self.server_id)
                self.ledger.update(self.run_id, state=CREATED, server=self.server_id)
            err = remove.delete(driver, self.server_id, self.hard)
            if err:
                ph.done(Outcome.FAILED, err)
            else:
                ph.done(Outcome.PASSED, f"delete of {self.server_id} accepted")
        if self.server_id is None:
            return
        if self.phases["delete"].outcome == Outcome.FAILED:
            self.leaked = self.server_id
            return
        with contextlib.suppress(_Stop), self._phase("gone") as ph:
            watch = Watch(self.history.expect("gone"))
            gone = remove.wait_gone(driver, self.server_id, self.hard, watch=watch)
            self.history.saw("gone", watch.estimate())
            data = {"polls": gone.polls, "poll_errors": gone.errors}
            if gone.verdict == remove.GONE:
                ph.done(Outcome.PASSED, gone.detail
                        + (f" ({gone.errors} status poll(s) failed and were repeated)"
                           if gone.errors else ""), **data)
            elif gone.verdict == remove.UNSEEN:  # no evidence either way
                self.uncertain = (f"VM {self.server_id} may be left: its deletion was "
                                  f"accepted but {gone.detail}")
                ph.done(Outcome.FAILED, gone.detail, **data)
            else:
                ph.done(Outcome.FAILED, gone.detail, **data)
                self.leaked = self.server_id

    def _settle(self) -> bool:
        """Write what is left to the ledger and tell the guardian it is over; True when
        nothing is left (no ledger entry, no guardian at work)."""
        if not self.create_sent:
            return True
        lost = self.server_id is None and self.uncertain is not None
        settled = False
        try:
            if self.leaked or (self.uncertain and self.server_id):
                self.ledger.update(self.run_id, state=LEAKED, server=self.server_id)
            elif lost:
                self.ledger.update(self.run_id, state=LOST)
            else:
                self.ledger.remove(self.run_id)
                settled = True
        except StateDirError as exc:
            log.error("could not record the run in the ledger: %s", exc)
        if self.guardian is not None:
            self.guardian.finish(lost=lost)
        return settled

    def _present(self) -> int | None:
        """This host's probe VMs at the site after the run: the sweep's leftovers and this
        run's own VM if it stays (None when the sweep did not look)."""
        if self.present is None:
            return None
        return self.present + (1 if self.leaked or (self.uncertain and self.server_id) else 0)


def _describe(found: Discovery) -> str:
    net = f"network {found.network.name}" if found.network else "network auto"
    return (f"image {found.image.name}, flavor {found.flavor.name} ({found.flavor.detail}), "
            f"{net}")
