"""The VM lifecycle runner: auth -> discover -> sweep -> create -> boot -> reach_v4/v6 ->
context -> mjf, then always delete -> gone. Each phase is timed and has its own outcome; one
deadline bounds the run, and cleanup has time of its own that signals do not take away."""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from probes.auth.keystone import AuthError, Login, login
from probes.config.site import Site
from probes.deadline import Deadline, DeadlineExceeded
from probes.drivers.base import (
    CloudDriver,
    Discovery,
    DriverError,
    NotFound,
    ServerSpec,
    ServerState,
)
from probes.guest.script import user_data
from probes.runner.guest import check_context, check_mjf
from probes.runner.reach import tcp
from probes.runner.result import PHASES, LifecycleResult, Outcome, Phase
from probes.runner.sweep import KEY_RUN, sweep, tags

log = logging.getLogger(__name__)

DriverFactory = Callable[[Login, Site, Deadline], CloudDriver]
Authenticate = Callable[[Site, float], Login]  # (site, timeout) -> a scoped session


class _Stop(Exception):
    """A phase failed: the phases after it are SKIPPED."""


@dataclass
class _Timer:
    name: str
    start: float
    outcome: Outcome = Outcome.PASSED
    detail: str = ""
    data: dict[str, Any] | None = None

    def done(self, outcome: Outcome, detail: str, **data: Any) -> None:
        self.outcome, self.detail, self.data = outcome, detail, data


class LifecycleRunner:
    """Runs one probe VM through its life against one site."""

    def __init__(self, site: Site, host: str, deadline: Deadline, hard: Deadline,
                 driver_factory: DriverFactory, *, authenticate: Authenticate = login) -> None:
        self.site = site
        self.host = host
        self.deadline = deadline  # the run's phases; cancelled by SIGTERM/SIGINT
        self.hard = hard          # the whole -t, for cleanup; never cancelled
        self.driver_factory = driver_factory
        self.authenticate = authenticate  # Keystone's login; a test's own in unit tests
        self.run_id = secrets.token_hex(8)
        self.nonce = secrets.token_hex(16)
        self.phases: dict[str, Phase] = {}
        self.driver: CloudDriver | None = None
        self.login: Login | None = None
        self.server_id: str | None = None
        self.create_sent = False
        self.leaked: str | None = None
        self._status_addresses: tuple[tuple[int, str], ...] = ()
        self._metadata: dict[str, str] = {}

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[_Timer]:
        timer = _Timer(name, time.monotonic())
        try:
            yield timer
        except DeadlineExceeded as exc:
            # Interrupted by a signal: we do not know how the site is, only that we stopped.
            outcome = Outcome.UNAVAILABLE if self.deadline.cancelled else Outcome.FAILED
            timer.done(outcome, f"{exc} after {time.monotonic() - timer.start:.1f}s")
        except NotFound as exc:
            timer.done(Outcome.FAILED, str(exc), available=list(exc.available))
        except (DriverError, AuthError) as exc:
            timer.done(Outcome.FAILED, str(exc))
        except Exception as exc:  # a bug or an answer nobody foresaw: this phase failed
            log.exception("%s phase failed unexpectedly", name)
            timer.done(Outcome.FAILED, f"internal error: {type(exc).__name__}: "
                                       f"{str(exc)[:200]}", error=type(exc).__name__)
        finally:
            self.phases[name] = Phase(name, timer.outcome, timer.detail,
                                      time.monotonic() - timer.start,
                                      MappingProxyType(timer.data or {}))
        stops = timer.outcome == Outcome.FAILED or (timer.outcome == Outcome.UNAVAILABLE and
                                                    self.deadline.cancelled)
        if stops and name not in ("sweep", "reach_v4", "reach_v6"):
            raise _Stop(name)

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> LifecycleResult:
        """Run every phase; whatever happens, clean up; return the typed result."""
        start = time.monotonic()
        try:
            self._main()
        except _Stop:
            pass
        except Exception:  # outside any phase (a bug): the phases record what ran
            log.exception("VM lifecycle stopped unexpectedly")
        finally:
            try:
                self._cleanup()
            except Exception:
                log.exception("VM cleanup stopped unexpectedly")
                self.leaked = self.server_id
        phases = tuple(self.phases.get(n) or self._skipped(n) for n in PHASES)
        return LifecycleResult(self.site.name, self.site.driver, self.run_id, phases,
                               time.monotonic() - start, self.server_id, self.leaked,
                               self.deadline.reason if self.deadline.cancelled else None)

    def _skipped(self, name: str) -> Phase:
        if self.deadline.cancelled:
            return Phase(name, Outcome.SKIPPED, f"not run: interrupted by {self.deadline.why()}")
        failed = next((p.name for p in self.phases.values() if p.outcome in (
            Outcome.FAILED, Outcome.UNAVAILABLE) and p.name not in ("sweep", "reach_v4",
                                                                    "reach_v6")), None)
        why = f"not run: {failed} did not pass" if failed else "not run"
        return Phase(name, Outcome.SKIPPED, why)

    def _main(self) -> None:
        with self._phase("auth") as ph:
            self.login = self.authenticate(self.site, max(0.5, min(30.0, self.deadline.left())))
            self.driver = self.driver_factory(self.login, self.site, self.deadline)
            ph.done(Outcome.PASSED, f"{self.login.method}; project {self.login.project_id}",
                    method=self.login.method)
        driver = self.driver
        with self._phase("discover") as ph:
            found = driver.discover(self.login.project_id)
            ph.done(Outcome.PASSED, _describe(found), image=found.image.name,
                    flavor=found.flavor.name, network=found.network.name if found.network
                    else "auto", flavors_available=list(found.flavor.available))
        with self._phase("sweep") as ph:
            swept = sweep(driver, self.host, self.site.sweep_max_age, self.run_id)
            outcome = Outcome.WARNED if swept.failed else Outcome.PASSED
            ph.done(outcome, f"removed {len(swept.removed)} stale probe VM(s) of this host"
                    + (f"; could not delete {', '.join(swept.failed)}" if swept.failed else ""),
                    removed=list(swept.removed), failed=list(swept.failed))
        self._create_and_boot(driver, found)
        self._reach(4)
        self._reach(6)
        with self._phase("context") as ph:
            report = None
            if self.site.policy.context == "off":  # and so is mjf (Policy allows nothing else)
                ph.done(Outcome.SKIPPED, "not checked (site policy: context off)")
            else:
                report = check_context(driver, self.server_id or "", self.nonce,
                                       self._status_addresses, ph, self.deadline.child(120))
        with self._phase("mjf") as ph:
            check_mjf(report, self.site, ph)

    def _create_and_boot(self, driver: CloudDriver, found: Discovery) -> None:
        with self._phase("create") as ph:
            spec = ServerSpec(f"fedprobe-{self.host[:32]}-{self.run_id}", found.image.id,
                              found.flavor.id, found.network.id if found.network else None,
                              base64.b64encode(user_data(self.nonce).encode()).decode(),
                              tags(self.host, self.run_id))
            self.create_sent = True
            self.server_id = driver.create(spec)
            ph.done(Outcome.PASSED, f"server {self.server_id} accepted", server=self.server_id)
        with self._phase("boot") as ph:
            for _ in self.deadline.polls():
                status = driver.status(self.server_id)
                if status.state == ServerState.ACTIVE:
                    self._status_addresses = status.addresses
                    self._metadata = status.metadata
                    shown = ", ".join(a for _, a in status.addresses) or "no addresses"
                    ph.done(Outcome.PASSED, f"ACTIVE; {shown}")
                    break
                if status.state in (ServerState.ERROR, ServerState.GONE,
                                    ServerState.DELETING):
                    ph.done(Outcome.FAILED, f"status {status.raw}"
                            + (f": {status.fault}" if status.fault else ""))
                    break

    def _reach(self, version: int) -> None:
        name = f"reach_v{version}"
        need = self.site.policy.ipv4 if version == 4 else self.site.policy.ipv6
        with self._phase(name) as ph:
            if need == "off":
                ph.done(Outcome.SKIPPED, f"not checked (site policy: ipv{version} off)")
                return
            addrs = [a for v, a in self._status_addresses if v == version]
            if not addrs:  # looked, found none: a finding (the policy says what it is worth)
                ph.done(Outcome.FAILED, f"no IPv{version} address")
                return
            port = self.site.port
            key = self.site.port_metadata_key
            if key and self._metadata.get(key, "").isdigit():
                port = int(self._metadata[key])
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
        driver.deadline = self.hard  # requests during cleanup are bounded by -t, not the run
        with contextlib.suppress(_Stop), self._phase("delete") as ph:
            if self.server_id is None:  # the create answer was lost: find it by its run id
                found = [s.id for s in driver.list_own({KEY_RUN: self.run_id})]
                self.server_id = found[0] if found else None
            if self.server_id is None:
                ph.done(Outcome.PASSED, "no server was created")
                return
            driver.delete(self.server_id)
            ph.done(Outcome.PASSED, f"delete of {self.server_id} accepted")
        if self.phases["delete"].outcome == Outcome.FAILED or self.server_id is None:
            self.leaked = self.server_id
            return
        with contextlib.suppress(_Stop), self._phase("gone") as ph:
            for _ in self.hard.polls(cap=2.0):
                status = driver.status(self.server_id)
                if status.state == ServerState.GONE:
                    ph.done(Outcome.PASSED, "404 confirmed")
                    break
                if status.state == ServerState.ERROR:
                    ph.done(Outcome.FAILED, f"status ERROR after delete: {status.fault}")
                    break
        if self.phases["gone"].outcome != Outcome.PASSED:
            self.leaked = self.server_id


def _describe(found: Discovery) -> str:
    net = f"network {found.network.name}" if found.network else "network auto"
    return (f"image {found.image.name}, flavor {found.flavor.name} ({found.flavor.detail}), "
            f"{net}")
