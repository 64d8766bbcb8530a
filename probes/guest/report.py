"""Reading the guest's report back from the console: only lines carrying this run's nonce
count; a report of another run, or one cut short, is said so — never taken as proof."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(r"FPR ([0-9a-f]{16,64}) (.*?)\s*$")


@dataclass(frozen=True)
class ConsoleReport:
    """What the guest said about itself in this run."""

    complete: bool
    metadata_source: str = "unknown"
    mjf_source: str = "none"
    mjf_machine: dict[str, str] = field(default_factory=dict)
    mjf_job: dict[str, str] = field(default_factory=dict)
    addresses: dict[int, tuple[str, ...]] = field(default_factory=dict)
    routes: dict[int, str] = field(default_factory=dict)
    authorized_keys: int = 0
    authorized_keys_files: tuple[str, ...] = ()
    credential_files: tuple[str, ...] = ()
    uptime: float | None = None      # the guest's uptime as the user-data began
    uptime_end: float | None = None  # ... and as it ended its report

    @property
    def ran_seconds(self) -> float | None:
        """How long the user-data took by the guest's own clock (None: not said)."""
        if self.uptime is None or self.uptime_end is None or self.uptime_end < self.uptime:
            return None
        return round(self.uptime_end - self.uptime, 2)


@dataclass(frozen=True)
class Reading:
    """The outcome of looking at a console: our report (maybe incomplete), or why not."""

    report: ConsoleReport | None
    other_runs: int = 0
    problem: str = ""


def read(console: str, nonce: str) -> Reading:
    """Find this run's report in a console log."""
    ours: list[str] = []
    others: set[str] = set()
    for line in console.splitlines():
        match = _LINE.search(line)
        if match is None:
            continue
        if match.group(1) == nonce:
            ours.append(match.group(2))
        else:
            others.add(match.group(1))
    if not ours or not ours[0].startswith("begin"):
        problem = ("the console holds a report of another run, not this one" if others
                   else "no report of this run on the console (yet)")
        return Reading(None, len(others), problem)
    end = next((i for i, text in enumerate(ours) if text.startswith("end ")), None)
    body = ours[1:end] if end is not None else ours[1:]
    complete = False
    if end is not None:
        want = ours[end].partition("lines=")[2]
        complete = _whole(want) and int(want) == end + 1
    problem = "" if complete else "the report is incomplete (lines missing or cut short)"
    return Reading(_parse(body, complete), len(others), problem)


def _parse(lines: list[str], complete: bool) -> ConsoleReport:
    machine: dict[str, str] = {}
    job: dict[str, str] = {}
    addrs: dict[int, list[str]] = {4: [], 6: []}
    routes: dict[int, str] = {}
    fields: dict[str, str] = {}
    key_files: list[str] = []
    cred_files: list[str] = []
    for text in lines:
        key, sep, value = text.partition("=")
        if not sep:
            continue
        if key.startswith("mjf.machine."):
            machine[key.removeprefix("mjf.machine.")] = value
        elif key.startswith("mjf.job."):
            job[key.removeprefix("mjf.job.")] = value
        elif key in ("addr.inet", "addr.inet6") and value.split():
            addrs[4 if key == "addr.inet" else 6].append(value.split()[-1])
        elif key in ("route.inet", "route.inet6"):
            routes[4 if key == "route.inet" else 6] = value
        elif key == "hygiene.authorized_keys_file":
            key_files.append(value)
        elif key == "hygiene.credential_file":
            cred_files.append(value)
        else:
            fields[key] = value
    uptime, uptime_end = fields.get("uptime", ""), fields.get("uptime.end", "")
    keys = fields.get("hygiene.authorized_keys", "0")
    return ConsoleReport(
        complete=complete, metadata_source=fields.get("metadata", "unknown"),
        mjf_source=fields.get("mjf.source", "none"), mjf_machine=machine, mjf_job=job,
        addresses={v: tuple(a) for v, a in addrs.items()}, routes=routes,
        authorized_keys=int(keys) if _whole(keys) else 0,
        authorized_keys_files=tuple(key_files), credential_files=tuple(cred_files),
        uptime=_seconds(uptime), uptime_end=_seconds(uptime_end))


def _seconds(text: str) -> float | None:
    return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else None


def _whole(text: str) -> bool:
    """ASCII digits only (str.isdigit() also takes "²", which int() refuses)."""
    return re.fullmatch(r"[0-9]{1,18}", text) is not None
