"""A small typed API over the real voms-clients commands: voms-proxy-init, voms-proxy-info
(--all, parsed), voms-proxy-destroy. Every call has a timeout; a missing command, a failure or
output we do not understand is a VomsToolError with one line. A key passphrase only ever goes
to the command's stdin (-pwstdin), never on its command line or into a message."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from probes import programs

DEFAULT_TIMEOUT = 30.0


class VomsToolError(Exception):
    """A voms-clients command is missing, failed, timed out or said something unexpected."""


@dataclass(frozen=True)
class VoInfo:
    vo: str
    subject: str = ""
    issuer: str = ""
    attributes: tuple[str, ...] = ()
    timeleft: int = 0
    uri: str = ""


@dataclass(frozen=True)
class VomsInfo:
    subject: str
    issuer: str
    identity: str
    type: str
    strength: int
    path: str
    timeleft: int
    vos: tuple[VoInfo, ...] = field(default_factory=tuple)


def info_command() -> str:
    """The C voms-proxy-info: installing the Java clients takes over `voms-proxy-info`, and the
    C one stays as `voms-proxy-info2`, whose --all output is what we parse."""
    for name in ("voms-proxy-info2", "voms-proxy-info"):
        if programs.which(name):
            return name
    raise VomsToolError(programs.not_found("voms-proxy-info"))


def _run(argv: list[str], timeout: float, stdin: str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        exe = programs.require(argv[0])
    except programs.MissingProgram as exc:
        raise VomsToolError(str(exc)) from None
    try:
        return subprocess.run(argv, executable=exe, input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise VomsToolError(f"{argv[0]} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise VomsToolError(f"{argv[0]}: {exc.strerror}") from None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else "no message"


def _seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d)", value.strip())
    if match is None:
        raise VomsToolError(f"voms-proxy-info: unexpected timeleft {value.strip()!r}")
    h, m, s = (int(x) for x in match.groups())
    return h * 3600 + m * 60 + s


def parse_info(text: str) -> VomsInfo:
    """Parse `voms-proxy-info --all` output."""
    head: dict[str, str] = {}
    vos: list[dict[str, str]] = []
    attributes: list[list[str]] = []
    for line in text.splitlines():
        match = re.match(r"^=== VO (\S+) extension information ===", line)
        if match:
            vos.append({"vo": match.group(1)})
            attributes.append([])
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if not vos:
            head[key] = value
        elif key == "attribute":
            attributes[-1].append(value)
        else:
            vos[-1][key] = value
    missing = [k for k in ("subject", "issuer", "timeleft") if k not in head]
    if missing:
        raise VomsToolError(f"voms-proxy-info: output without {', '.join(missing)}")
    strength = re.match(r"\d+", head.get("strength", "0"))
    return VomsInfo(
        head["subject"], head["issuer"], head.get("identity", ""), head.get("type", ""),
        int(strength.group(0)) if strength else 0, head.get("path", ""),
        _seconds(head["timeleft"]),
        tuple(VoInfo(v["vo"], v.get("subject", ""), v.get("issuer", ""), tuple(attrs),
                     _seconds(v.get("timeleft", "0:00:00")), v.get("uri", ""))
              for v, attrs in zip(vos, attributes, strict=True)))


def proxy_info(path: str | Path, certdir: str | Path | None = None,
               timeout: float = DEFAULT_TIMEOUT) -> VomsInfo:
    """`voms-proxy-info --all --file PATH`, parsed."""
    env = dict(os.environ)
    if certdir is not None:
        env["X509_CERT_DIR"] = str(certdir)
    cmd = info_command()
    proc = _run([cmd, "--all", "--file", str(path)], timeout, env=env)
    if proc.returncode != 0:
        raise VomsToolError(f"{cmd}: {_first_line(proc.stderr or proc.stdout)}")
    return parse_info(proc.stdout)


def proxy_init(out: str | Path, *, cert: str | Path, key: str | Path, vo: str | None = None,
               valid: str = "12:00", certdir: str | Path | None = None,
               passphrase: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
    """`voms-proxy-init` writing OUT (a VOMS AC for ``vo`` when given)."""
    if not re.fullmatch(r"\d{1,4}:\d\d", valid):
        raise VomsToolError(f"voms-proxy-init: validity {valid!r} is not HH:MM")
    argv = ["voms-proxy-init", "--cert", str(cert), "--key", str(key), "--out", str(out),
            "--valid", valid, "--rfc", "--pwstdin"]
    if vo:
        argv += ["--voms", vo]
    if certdir is not None:
        argv += ["--certdir", str(certdir)]
    proc = _run(argv, timeout, stdin=(passphrase or "") + "\n")
    if proc.returncode != 0:
        message = _first_line(proc.stderr or proc.stdout)
        if passphrase:
            message = message.replace(passphrase, "<redacted>")
        raise VomsToolError(f"voms-proxy-init: {message}")


def proxy_destroy(path: str | Path, timeout: float = DEFAULT_TIMEOUT) -> None:
    """`voms-proxy-destroy --file PATH`, and make sure the file is really gone: voms-clients
    2.1 (Debian 12) exits 0 yet leaves a --file proxy in place, key included."""
    proc = _run(["voms-proxy-destroy", "--file", str(path)], timeout)
    if proc.returncode != 0:
        raise VomsToolError(f"voms-proxy-destroy: {_first_line(proc.stderr or proc.stdout)}")
    target = Path(path)
    if target.exists():
        size = target.stat().st_size
        with target.open("r+b") as fh:  # the key must not survive in freed blocks either
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
        target.unlink()
