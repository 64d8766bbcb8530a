"""Who a probe VM belongs to: the operator-visible monitoring host, a machine-unique id, the
run and the role. Hostnames are not unique (``localhost`` in many containers, two halves of an
HA pair under one name), so cleanup never relies on the host name alone."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROLES = ("plugin", "exporter", "selftest")
MACHINE_ID_FILE = "machine-id"   # in the state directory, when /etc/machine-id is not usable
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
# systemd's advice: derive an application-specific id, never publish /etc/machine-id itself
# (it would be visible to every user of the cloud project in the VM's metadata).
_APP_KEY = b"fedprobe.machine"


@dataclass(frozen=True)
class Identity:
    """What every probe VM is tagged with besides its run id."""

    host: str      # the monitoring host operators see (``--monitoring-host``, default FQDN)
    machine: str   # 16 hex digits, unique per machine (see machine_id)
    role: str      # plugin, exporter or selftest

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r}: expected one of {', '.join(ROLES)}")


def default_host() -> str:
    """The name tagged on probe VMs when none is configured."""
    return socket.getfqdn()


def in_container(root: Path = Path("/"), environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this looks like a container, whose /etc/machine-id usually comes from its image
    and is shared by every container started from it."""
    return bool(environ.get("container")) or any(
        (root / p).exists() for p in (".dockerenv", "run/.containerenv"))


def machine_id(state_dir: Path, root: Path = Path("/"),
               environ: Mapping[str, str] = os.environ) -> str:
    """This machine's id: derived from /etc/machine-id when it is present, well-formed and not
    shared (not in a container); else a random id kept in the state directory (created once,
    atomically, so that two processes starting together agree)."""
    etc = root / "etc" / "machine-id"
    try:
        raw = etc.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raw = ""
    if _HEX32.fullmatch(raw) and raw != "0" * 32 and not in_container(root, environ):
        return hmac.new(bytes.fromhex(raw), _APP_KEY, hashlib.sha256).hexdigest()[:16]
    return _persisted(state_dir / MACHINE_ID_FILE)


def _persisted(path: Path) -> str:
    try:
        kept = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        kept = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise StateDirError(f"{path}: cannot read the machine id: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    if _HEX16.fullmatch(kept):
        return kept
    if kept:
        raise StateDirError(f"{path}: not a machine id (16 hex digits); remove it to get a "
                            "new one (probe VMs tagged with the old one are then swept only "
                            "by age)")
    new = secrets.token_hex(8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        tmp.write_text(new + "\n", encoding="ascii")
        try:
            os.link(tmp, path)  # fails if another process made it first: use theirs
        except FileExistsError:
            return _persisted(path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise StateDirError(f"{path}: cannot keep the machine id: {exc.strerror}") from None
    return new


class StateDirError(Exception):
    """The state directory cannot be used (one line naming the path and why)."""
