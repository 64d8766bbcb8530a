"""The self-test's checks, gathered with the plugins' own code — the keystone and api fast
checks' steps and N runs of the VM lifecycle — and turned into Results (never PASS without the
evidence behind it). Each gathering step is bounded by its own deadline; the lifecycle runs
sweep and delete their VMs as `fedprobe vm` does."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from probes.selftest.model import Result, Status
from probes.state import OK, WARNING

if TYPE_CHECKING:
    from probes.checks.steps import Step
    from probes.config.site import Site
    from probes.runner.custody import Custody
    from probes.runner.result import LifecycleResult
    from probes.selftest.profiles import Profile

# Not implemented by this version: listed so, never as PASS (docs/selftest.md).
NOT_CHECKED = {
    "storage": "Block storage (a volume attached, boot from volume) and object storage",
    "multipart_userdata": "Multipart MIME user-data (a shell part and a cloud-config part)",
    "tls_igtf": "TLS chain and the IGTF client CAs Keystone advertises",
    "vo_projects": "OIDC login for each VO's project, endorsed image in each",
    "site_yaml": "The site's YAML against the federation's schema",
}


# What the lifecycle runs give evidence for, in the order they are reported.
LIFECYCLE_CHECKS = (
    ("image", "Monitoring image"), ("flavor", "Monitoring flavor"),
    ("lifecycle", "VM lifecycle"), ("context", "Contextualisation (user-data ran)"),
    ("metadata", "Metadata service or config drive"), ("console", "Console log"),
    ("mjf", "Machine/job features"), ("ipv4", "IPv4 reachability"),
    ("ipv6", "IPv6 reachability"), ("hygiene", "Image hygiene"),
    ("leftovers", "No VM left behind"),
)


@dataclass(frozen=True)
class Plan:
    """What to gather: how many lifecycle runs, each run's -t, the fast checks' timeout."""

    runs: int = 3
    vm_timeout: float = 300.0
    fast_timeout: float = 60.0


def _step(steps: Sequence[Step], name: str) -> Step | None:
    return next((s for s in steps if s.name == name), None)


def _cannot(check: str, title: str, why: str) -> Result:
    return Result(check, title, Status.COULD_NOT_RUN, why)


def fast_checks(site: Site, profile: Profile, plan: Plan) -> Iterator[Result]:
    """Login, federated login, token lifetime, catalog, versions, quota."""
    from probes.deadline import Deadline
    from probes.runner import fast

    checked = fast.keystone(site, Deadline(plan.fast_timeout))  # type: ignore[arg-type]
    steps = checked.steps
    auth = steps[0]
    if auth.state != OK:
        yield Result("auth", "Login with the site's configured method", Status.FAIL,
                     auth.detail, "make the login in the sites file work: the auth URL must "
                     "answer from outside, the credential must be valid for its project",
                     auth.seconds)
        for check, title in (("federated_login", "Federated login"),
                             ("token_lifetime", "Token lifetime"),
                             ("catalog", "Catalog endpoints"), ("versions", "Version documents"),
                             ("quota", "Quota headroom")):
            yield _cannot(check, title, "no login (auth failed)")
        yield _clock(site, plan)
        return
    yield Result("auth", "Login with the site's configured method", Status.PASS,
                 f"{auth.detail} in {auth.seconds or 0:.2f}s", seconds=auth.seconds)
    yield _federated(site, profile, auth)
    life = _step(steps, "token_lifetime")
    if life is not None:
        yield Result("token_lifetime", "Token lifetime", Status.PASS if life.state == OK
                     else Status.WARN, life.detail, "" if life.state == OK else
                     "give Keystone tokens at least an hour ([token] expiration)")
    missing = [s for s in steps if s.name.startswith("catalog_")]
    versions = [s for s in steps if s.name.startswith("version_")]
    if missing:
        yield Result("catalog", "Catalog endpoints", Status.FAIL,
                     "; ".join(s.detail for s in missing),
                     "register the missing endpoints (public interface, the site's region) "
                     "in Keystone's catalog")
    else:
        yield Result("catalog", "Catalog endpoints", Status.PASS,
                     f"{', '.join(s.name.removeprefix('version_') for s in versions)} in the "
                     f"catalog")
    bad = [s for s in versions if s.state != OK]
    if not versions:
        yield _cannot("versions", "Version documents", "no endpoint to ask")
    else:
        yield Result("versions", "Version documents",
                     Status.FAIL if bad else Status.PASS,
                     "; ".join(s.detail for s in bad) if bad else ", ".join(
                         f"{s.name.removeprefix('version_')} {s.detail.rsplit(' ', 1)[-1]}"
                         for s in versions) + " (HTTP status of each version document)",
                     "the endpoints must answer from outside (firewall, proxy, URL in the "
                     "catalog)" if bad else "")
    yield from _quota(site, plan)
    yield _clock(site, plan)


def _clock(site: Site, plan: Plan) -> Result:
    from probes.auth.keystone import AuthError, verify_option
    from probes.selftest import clock

    try:
        verify = verify_option(site)  # type: ignore[arg-type]
    except AuthError as exc:
        return _cannot("clock_skew", clock.TITLE, str(exc))
    return clock.check(site.auth.auth_url, verify, plan.fast_timeout)  # type: ignore[attr-defined]


def _federated(site: Site, profile: Profile, auth: Step) -> Result:
    title = "Federated login"
    if profile.identity_provider is None:
        return Result("federated_login", title, Status.PASS,
                      f"the profile takes any login; the site's works ({auth.detail})")
    a: Any = getattr(site, "auth", None)
    idp, protocol = getattr(a, "identity_provider", None), getattr(a, "protocol", None)
    want = f"identity provider {profile.identity_provider}, protocol {profile.protocol}"
    if getattr(a, "type", "").startswith("oidc") and (idp, protocol) == (
            profile.identity_provider, profile.protocol):
        return Result("federated_login", title, Status.PASS,
                      f"OIDC via {idp}/{protocol} works ({auth.detail})")
    return Result("federated_login", title, Status.FAIL,
                  f"the site logs in with {getattr(a, 'type', '?')}"
                  + (f" via {idp}/{protocol}" if idp else "") + f", not {want}",
                  f"configure Keystone federation with {want} and test with an access token "
                  f"(auth type oidc_access_token in the sites file)")


def _quota(site: Site, plan: Plan) -> Iterator[Result]:
    from probes.deadline import Deadline
    from probes.runner import fast

    checked = fast.api(site, Deadline(plan.fast_timeout))
    quota = _step(checked.steps, "quota")
    failed = [s for s in checked.steps if s.state not in (OK, WARNING)]
    if quota is None:
        why = "; ".join(f"{s.name}: {s.detail}" for s in failed) or "no quota answer"
        yield _cannot("quota", "Quota headroom", why)
        return
    yield Result("quota", "Quota headroom", Status.PASS if quota.state == OK else Status.WARN,
                 quota.detail, "" if quota.state == OK else
                 "raise the project's quota: a monitoring VM must always fit")


def lifecycle_runs(site: Site, custody: Custody, plan: Plan, progress: Callable[[str], None],
                   stop: dict[str, Any]) -> list[LifecycleResult]:
    """N runs of the VM lifecycle, as `fedprobe vm` makes them (sweep, create, ..., delete).
    A signal cancels the running one (it still deletes its VM: stop["deadline"]) and the rest."""
    from probes import drivers
    from probes.deadline import run_deadlines
    from probes.runner.lifecycle import LifecycleRunner

    results = []
    for n in range(plan.runs):
        if stop.get("signal"):
            break
        progress(f"lifecycle run {n + 1}/{plan.runs}")
        soft, hard = run_deadlines(plan.vm_timeout)
        stop["deadline"] = soft
        results.append(LifecycleRunner(site, custody, soft, hard, drivers.create).run())
    stop["deadline"] = None
    return results


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f}±{sd:.2f}s"


def lifecycle_checks(runs: list[LifecycleResult]) -> Iterator[Result]:
    """flavor, image, lifecycle (with each phase's spread), context, metadata, console, mjf,
    ipv4, ipv6, hygiene, leftovers — each from every run."""
    from probes.runner.result import PHASES, Outcome

    n = len(runs)
    if not runs:
        for check, title in LIFECYCLE_CHECKS:
            yield _cannot(check, title, "interrupted before the first run")
        return

    def outcomes(phase: str) -> list[Outcome]:
        return [r.phase(phase).outcome for r in runs]

    def first_failure(phase: str) -> str:
        return next((f"run {i + 1}: {r.phase(phase).detail}" for i, r in enumerate(runs)
                     if r.phase(phase).outcome == Outcome.FAILED), "")

    discover = [r.phase("discover") for r in runs]
    found = next((p for p in discover if p.outcome == Outcome.PASSED), None)
    if found is None:
        yield from _discovery_failed(first_failure("discover") or discover[0].detail)
    else:
        yield Result("image", "Monitoring image", Status.PASS,
                     f"image {found.data.get('image')} active")
        yield Result("flavor", "Monitoring flavor", Status.PASS,
                     f"flavor {found.data.get('flavor')} fits it (of "
                     f"{', '.join(found.data.get('flavors_available', []))})")
    core = ("create", "boot", "delete", "gone")
    whole = [all(r.phase(p).outcome == Outcome.PASSED for p in core) for r in runs]
    spread = {p: _spread([d for r in runs if r.phase(p).outcome == Outcome.PASSED
                          and (d := r.phase(p).duration) is not None]) for p in PHASES}
    timings = ", ".join(f"{p} {spread[p]}" for p in ("create", "boot", "delete", "gone"))
    if all(whole):
        yield Result("lifecycle", "VM lifecycle", Status.PASS,
                     f"{n}/{n} runs booted and deleted a VM; {timings}",
                     data={"spread": spread})
    else:
        why = next((first_failure(p) for p in ("discover", *core) if first_failure(p)), "")
        yield Result("lifecycle", "VM lifecycle", Status.FAIL,
                     f"{sum(whole)}/{n} runs booted and deleted a VM; {why or 'see the runs'}",
                     "a VM of the monitoring flavor and image must boot to ACTIVE and be "
                     "deleted within the timeout: check the scheduler, the network and quota",
                     data={"spread": spread})
    yield from _per_run("context", "Contextualisation (user-data ran)", runs, outcomes,
                        first_failure, "user-data must run at boot: cloud-init (or the "
                        "image's agent) with the config drive or the metadata service")
    sources = {r.phase("context").data.get("metadata_source") for r in runs
               if r.phase("context").outcome == Outcome.PASSED}
    if not sources:
        yield _cannot("metadata", "Metadata service or config drive", "context did not pass")
    elif sources <= {"none", None}:
        yield Result("metadata", "Metadata service or config drive", Status.FAIL,
                     "the guest found neither a config drive nor the metadata service",
                     "enable the metadata service (169.254.169.254) or config drives")
    else:
        yield Result("metadata", "Metadata service or config drive", Status.PASS,
                     f"metadata via {', '.join(sorted(s for s in sources if s))}")
    console = [r.phase("context") for r in runs]
    if any(p.outcome == Outcome.UNAVAILABLE for p in console):
        yield Result("console", "Console log", Status.FAIL,
                     next(p.detail for p in console if p.outcome == Outcome.UNAVAILABLE),
                     "let project members read their servers' console log "
                     "(os_compute_api:os-console-output)")
    elif any(p.outcome == Outcome.PASSED for p in console):
        yield Result("console", "Console log", Status.PASS, "the guest's report was read from "
                     "its console log")
    else:
        yield _cannot("console", "Console log", "no run reached the console")
    yield from _per_run("mjf", "Machine/job features", runs, outcomes, first_failure,
                        "publish MJF to the guest (the machinefeatures/jobfeatures keys in the "
                        "metadata, or $MACHINEFEATURES/$JOBFEATURES)")
    for check, phase, family in (("ipv4", "reach_v4", "IPv4"), ("ipv6", "reach_v6", "IPv6")):
        yield from _per_run(check, f"{family} reachability", runs, outcomes, first_failure,
                            f"give the VM an {family} address reachable from outside (security "
                            f"group, router, a public network)", phase=phase)
    hygiene = sorted({f for r in runs for f in r.phase("context").data.get("hygiene", [])})
    if not sources:
        yield _cannot("hygiene", "Image hygiene", "context did not pass")
    elif hygiene:
        yield Result("hygiene", "Image hygiene", Status.FAIL, "; ".join(hygiene),
                     "rebuild the image without embedded credentials or foreign keys")
    else:
        yield Result("hygiene", "Image hygiene", Status.PASS,
                     "no embedded credentials or foreign authorized_keys found by the guest")
    leaked = [r.leaked_server_id or r.uncertain for r in runs if r.maybe_leaked]
    yield Result("leftovers", "No VM left behind", Status.FAIL if leaked else Status.PASS,
                 f"left: {', '.join(str(x) for x in leaked)}" if leaked else
                 f"all {n} VMs deleted, 404 confirmed",
                 "delete the VM by hand; a delete must complete within the timeout"
                 if leaked else "")


def _discovery_failed(why: str) -> Iterator[Result]:
    """image and flavor when no run found them. The driver looks for the image first, then a
    flavor it fits: a flavor failure means the image was found, an image failure leaves the
    flavor unchecked; anything else (an API error) fails both."""
    image_fix = "make the federation's monitoring image active and visible to the project"
    flavor_fix = "offer a small flavor the image fits (or name one the project can use)"
    if "flavor" in why:
        yield _cannot("image", "Monitoring image", f"discovery stopped at the flavor: {why}")
        yield Result("flavor", "Monitoring flavor", Status.FAIL, why, flavor_fix)
    elif "image" in why:
        yield Result("image", "Monitoring image", Status.FAIL, why, image_fix)
        yield _cannot("flavor", "Monitoring flavor", "no image to fit a flavor to")
    else:
        yield Result("image", "Monitoring image", Status.FAIL, why, image_fix)
        yield Result("flavor", "Monitoring flavor", Status.FAIL, why, flavor_fix)


def _per_run(check: str, title: str, runs: list[LifecycleResult],
             outcomes: Callable[[str], list[Any]], first_failure: Callable[[str], str],
             fix: str, phase: str | None = None) -> Iterator[Result]:
    from probes.runner.result import Outcome

    phase = phase or check
    seen = outcomes(phase)
    n = len(runs)
    passed = seen.count(Outcome.PASSED) + seen.count(Outcome.WARNED)
    failed = seen.count(Outcome.FAILED)
    detail = next((r.phase(phase).detail for r in runs
                   if r.phase(phase).outcome in (Outcome.PASSED, Outcome.WARNED)), "")
    if failed:
        yield Result(check, title, Status.FAIL, f"{passed}/{n} runs passed; "
                     f"{first_failure(phase)}", fix)
    elif passed == n:
        yield Result(check, title, Status.PASS, f"{n}/{n} runs: {detail}")
    elif passed:
        yield Result(check, title, Status.WARN, f"{passed}/{n} runs passed, the others could "
                     f"not check it", fix)
    else:
        why = next((r.phase(phase).detail for r in runs), "not run")
        yield _cannot(check, title, why)


def not_checked() -> Iterator[Result]:
    """What this version does not check, said so."""
    for check, title in NOT_CHECKED.items():
        yield Result(check, title, Status.NOT_CHECKED, "not checked by this version")
