"""Running a nagiosplugin Check and rendering it, without nagiosplugin's process-wide Runtime
(which would exit on its own and owns a SIGALRM timeout that would skip our cleanup)."""

from __future__ import annotations

import io
import logging
from typing import Any


def evaluate(check: Any, name: str) -> tuple[str, int]:
    """The status line with perfdata (newline-terminated) and the exit code."""
    from nagiosplugin.output import Output

    check.name = name.lower()
    check()
    out = Output(logging.StreamHandler(io.StringIO()), verbose=0)
    out.add(check)
    return str(out), int(check.exitcode)
