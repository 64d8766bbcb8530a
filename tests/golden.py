"""Golden outputs: what a plugin printed (stdout, stderr, exit status), normalised — ids, times,
ports and temporary paths masked — and compared byte for byte with tests/goldens/<name>.txt.

    FEDPROBE_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests -k golden   # record them anew

Record anew only when a change of output is the point; review the diff like code."""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

GOLDENS = Path(__file__).resolve().parent / "goldens"
UPDATE = os.environ.get("FEDPROBE_UPDATE_GOLDENS") == "1"
STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}

_MASKS = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?"),
     "<time>"),
    (re.compile(r"(127\.0\.0\.1|localhost|\[::1\]|127\.77\.\d+\.\d+):\d+\b"), r"\1:<port>"),
    (re.compile(r"/CN=\d+\b"), "/CN=<serial>"),  # a proxy's own CN
    (re.compile(r"\b127\.77\.\d+\.\d+\b"), "127.77.x.y"),  # a process guest's own address
    (re.compile(r"-?\b\d+h\d\dm\b"), "<h>h<m>m"),
    (re.compile(r"-?\b\d+(\.\d+)?(ms|s)\b"), r"<t>\2"),
]


def normalise(text: str, paths: Mapping[str, str] | None = None) -> str:
    """The text with what changes from run to run masked; paths (longest first) named."""
    for path, name in sorted((paths or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, name)
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def transcript(argv: list[str], proc: subprocess.CompletedProcess[str]) -> str:
    """A run as the golden file holds it."""
    state = STATES.get(proc.returncode, "not a Nagios state")
    return (f"$ fedprobe {' '.join(argv)}\nexit {proc.returncode} ({state})\n"
            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")


def run_plugin(argv: list[str], paths: Mapping[str, str] | None = None,
               env: Mapping[str, str] | None = None, timeout: float = 90) -> str:
    """Run `fedprobe ARGV` as Nagios would (a subprocess); its normalised transcript."""
    proc = subprocess.run([sys.executable, "-m", "probes", *argv], capture_output=True,
                          text=True, timeout=timeout, env=dict(env or os.environ), check=False)
    return normalise(transcript(argv, proc), paths)


def check(name: str, text: str) -> None:
    """text is byte for byte tests/goldens/<name>.txt (or, updating, becomes it)."""
    path = GOLDENS / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no golden {path}: record it with FEDPROBE_UPDATE_GOLDENS=1"
    want = path.read_text()
    if text != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            f"golden {path.name}", "this run"))
        raise AssertionError(f"output differs from the golden {path}:\n{diff}")
