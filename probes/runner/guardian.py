"""A run's guardian: a small process in a session of its own that deletes the run's VM when the
run dies before saying it is done — a SIGKILL of the run alone, or of its whole process group
(what Nagios 4 and Sensu Go do at their timeout, with no SIGTERM first).

The run starts it just before asking for a VM and talks to it over a pipe, one JSON object per
line: ``hello`` (the site with its credentials, the run id, the deadline — over the pipe only,
never in argv, the environment or a file), ``creating``, ``server``, then ``done`` (the run
cleaned up: exit) or ``lost`` (the create answer was lost: keep looking a while). End of file
without ``done`` means the run died: log in afresh (no token is kept; a token-only site uses its
token, and if that has expired the ledger keeps the run for the next run), find the VM by its id
or run id, delete it, watch it go, settle the ledger, exit. It holds the run's lock (inherited)
while it lives, and exits by the run's hard deadline plus a grace whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probes.config.site import Site
    from probes.deadline import Deadline
    from probes.drivers.base import CloudDriver

log = logging.getLogger(__name__)

GRACE = 60.0        # beyond the run's hard deadline (probes.runner.sweep.GUARDIAN_GRACE)
HELLO_WAIT = 30.0   # a guardian told nothing exits
LOG_FILE = "guardian.log"
LOG_MAX = 1 << 20   # the log is started afresh beyond this size
_SECRET_ENV = ("OS_", "FEDPROBE_SECRET")  # environment the guardian does not need


@dataclass
class Watch:
    """What the guardian learned from its run."""

    hello: dict[str, Any] = field(default_factory=dict)
    creating: bool = False
    server: str | None = None
    done: bool = False
    lost: bool = False

    def take(self, line: str) -> None:
        msg = json.loads(line)
        if "hello" in msg:
            self.hello = msg["hello"]
        if msg.get("creating"):
            self.creating = True
        if msg.get("server"):
            self.server = str(msg["server"])
        if msg.get("done"):
            self.done = True
        if msg.get("lost"):
            self.lost = True

    @property
    def ends_at(self) -> float:
        """Wall time by which the guardian exits."""
        return float(self.hello.get("until", time.time())) + GRACE


Act = Callable[[Watch, float], None]  # (what it learned, wall-time deadline) -> clean up


def watch(stream: IO[str], act: Act) -> Watch:
    """Read the run's messages until done, lost or end of file, then act if the run did not
    finish its cleanup; never past the run's hard deadline plus GRACE."""
    w = Watch()
    end = time.time() + HELLO_WAIT
    fd = stream.fileno()
    buf = b""
    while True:
        left = end - time.time()
        if left <= 0:
            log.warning("run %s: no word from the run by its deadline; exiting",
                        w.hello.get("run", "?"))
            return w
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:  # the run's end of the pipe is closed: it exited or was killed
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            with contextlib.suppress(ValueError):
                w.take(line.decode())
            if w.hello:
                end = w.ends_at
            if w.done:
                return w
            if w.lost:
                break
        if w.lost:
            break
    if w.done or not w.hello or not (w.creating or w.server):
        return w  # nothing was asked of the cloud: nothing to clean up
    why = "the run gave up on a lost create answer" if w.lost else "the run died"
    log.warning("run %s: %s; cleaning up%s", w.hello.get("run"), why,
                f" server {w.server}" if w.server else " (looking for its server)")
    act(w, w.ends_at)
    return w


Connect = Callable[["Site", "Deadline"], "CloudDriver"]  # log in, give a driver


def connect(site: Site, deadline: Deadline) -> CloudDriver:
    """Log in afresh with the site's credentials (no token outlives the run) and drive it."""
    from probes import drivers

    driver = drivers.create(site)
    driver.connect(deadline)
    return driver


def clean_up(w: Watch, until: float, connect: Connect = connect) -> None:
    """Remove the run's VM (by id, or found by run id), watch it go, settle the ledger."""
    from probes.config.site import parse
    from probes.deadline import Deadline
    from probes.runner import remove
    from probes.runner.ledger import LEAKED, Ledger, forget_lock
    from probes.runner.sweep import KEY_RUN

    h = w.hello
    run = str(h.get("run"))
    try:
        site = parse(h["site"])
        ledger = Ledger(Path(h["state_dir"]), site.name)
        deadline = Deadline(max(1.0, until - time.time()))
        driver = connect(site, deadline)
        ids = [w.server] if w.server else []
        if not ids:
            found, _ = remove.find_run(driver, {KEY_RUN: run}, deadline, keep_looking=True)
            ids = [s.id for s in found]
        if not ids:
            log.warning("run %s: no server showed by the deadline; the ledger keeps the run",
                        run)
            return
        left = []
        for sid in ids:
            err = remove.delete(driver, sid, deadline)
            gone = remove.wait_gone(driver, sid, deadline) if not err else None
            if gone is not None and gone.verdict == remove.GONE:
                log.warning("run %s: server %s deleted (404 confirmed)", run, sid)
            else:
                left.append(sid)
                log.error("run %s: server %s not removed: %s", run, sid,
                          err or (gone.detail if gone else ""))
        if left:
            ledger.update(run, state=LEAKED, server=left[0])
        else:
            ledger.remove(run)
            forget_lock(Path(h["state_dir"]), run, held=True)  # it holds it: nobody else
    except Exception as exc:
        log.error("run %s: cleanup failed: %s: %s", run, type(exc).__name__, str(exc)[:300])


class Guardian:
    """The run's end of the pipe."""

    def __init__(self, proc: subprocess.Popen[bytes] | None, pipe: IO[bytes] | None) -> None:
        self.proc, self._pipe = proc, pipe

    @classmethod
    def start(cls, hello: dict[str, Any], state_dir: Path, lock_fd: int) -> Guardian:
        """Start the guardian process (a failure is logged: the ledger still covers the run)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SECRET_ENV)}
        # the guardian imports this very copy of fedprobe, installed or not
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            logpath = state_dir / LOG_FILE
            with contextlib.suppress(OSError):
                if logpath.stat().st_size > LOG_MAX:
                    logpath.unlink()
            with open(logpath, "ab") as logf:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "probes.runner.guardian"], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=logf, start_new_session=True,
                    pass_fds=(lock_fd,), env=env, cwd="/")
        except OSError as exc:
            log.error("could not start the guardian: %s", exc)
            return cls(None, None)
        g = cls(proc, proc.stdin)
        g.tell(hello=hello)
        return g

    def tell(self, **msg: Any) -> None:
        """Send one message (a dead guardian is logged, not fatal)."""
        if self._pipe is None:
            return
        try:
            self._pipe.write(json.dumps(msg).encode() + b"\n")
            self._pipe.flush()
        except (OSError, ValueError) as exc:
            log.error("guardian gone (%s): the ledger covers this run", exc)
            self._pipe = None

    def finish(self, lost: bool = False) -> None:
        """The run cleaned up (or gave up on a lost answer: the guardian goes on looking)."""
        self.tell(**({"lost": True} if lost else {"done": True}))
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None
        if self.proc is not None and not lost:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=2.0)  # it exits at once on "done": no zombie left


def main() -> int:
    """The guardian process: stdin is the run's pipe."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s guardian[{os.getpid()}] %(levelname)s %(message)s")
    watch(sys.stdin, clean_up)
    return 0


if __name__ == "__main__":
    sys.exit(main())
