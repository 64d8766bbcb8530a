"""Removing a probe VM and knowing that it is gone: the delete request repeated while it fails
transiently, status polls that ride out a 503 or a timeout, and a verdict that separates what was
seen (still there, ERROR, 404) from what could not be seen. Used by the run's own cleanup, the
sweep and the guardian alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from probes.deadline import Deadline, DeadlineExceeded
from probes.drivers.base import CloudDriver, DriverError, NotFound, OwnServer, ServerState
from probes.runner import pacing

GONE, PRESENT, ERROR, UNSEEN = "gone", "present", "error", "unseen"


@dataclass(frozen=True)
class Gone:
    """What the polls after a delete saw."""

    verdict: str        # GONE (404), PRESENT (seen until the deadline), ERROR, UNSEEN
    detail: str         # one line
    polls: int = 0
    errors: int = 0     # polls that failed (and were repeated)


def _until_time_is_up(looks: Iterator[int]) -> Iterator[int]:
    """The attempts, ending quietly when the deadline's sleep says time is up."""
    try:
        yield from looks
    except DeadlineExceeded:
        return


def delete(driver: CloudDriver, server_id: str, deadline: Deadline) -> str:
    """Ask for the deletion, repeating a transient failure within the deadline; '' once the
    cloud accepted it (or the server was already gone), else the last error."""
    last = ""
    for _ in _until_time_is_up(deadline.polls(cap=2.0)):
        try:
            driver.delete(server_id, deadline)
            return ""
        except NotFound:
            return ""
        except DriverError as exc:
            last = str(exc)
            if not exc.transient:
                return last
    return last or f"delete of {server_id}: {deadline.why()}"


def wait_gone(driver: CloudDriver, server_id: str, deadline: Deadline,
              cap: float = 2.0, watch: pacing.Watch | None = None) -> Gone:
    """Poll until the server is 404 or in ERROR, or the deadline: a failed poll is repeated,
    and only a server seen still there counts as evidence that it was not deleted. ``watch``
    paces the polls around when the site's recent deletions were seen, and learns this one's
    (probes.runner.pacing)."""
    polls = errors = 0
    seen, last_error = "", ""
    watch = watch or pacing.Watch(None)
    for _ in _until_time_is_up(watch.looks(deadline, cap)):
        polls += 1
        try:
            status = driver.status(server_id, deadline)
        except DeadlineExceeded:
            break
        except DriverError as exc:
            errors += 1
            last_error = str(exc)
            continue
        if status.state == ServerState.GONE:
            watch.hit()
            return Gone(GONE, "404 confirmed", polls, errors)
        if status.state == ServerState.ERROR:
            return Gone(ERROR, f"status ERROR after delete: {status.fault}".rstrip(": "),
                        polls, errors)
        seen = status.raw
        watch.miss()
    if seen:
        return Gone(PRESENT, f"still {seen} after the delete was accepted ({deadline.why()})",
                    polls, errors)
    return Gone(UNSEEN, f"could not confirm: {errors} status poll(s) failed"
                        + (f" (last: {last_error})" if last_error else ""), polls, errors)


def find_run(driver: CloudDriver, metadata: dict[str, str], deadline: Deadline,
             keep_looking: bool) -> tuple[list[OwnServer], str]:
    """The servers carrying this run's tags: looked for once, or (a create answer may have been
    lost) again and again with back-off until one shows or the deadline. Also returns the last
    list error ('' when the last look worked)."""
    last = ""
    for _ in _until_time_is_up(deadline.polls(cap=5.0)):
        try:
            found = driver.list_own(metadata, deadline)
            last = ""
        except DeadlineExceeded:
            break
        except DriverError as exc:
            last = str(exc)
            found = []
        if found or (not keep_looking and not last):
            return found, last
    return [], last or ""
