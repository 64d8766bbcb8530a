"""Running a nagiosplugin Check and rendering it, without nagiosplugin's process-wide Runtime
(which would exit on its own and owns a SIGALRM timeout that would skip our cleanup)."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import Any

MAX_OUTPUT = 4096  # bytes of plugin output kept (Nagios 4 keeps 8 KiB; NRPE and Sensu less)


def evaluate(check: Any, name: str, long_output: Sequence[str] = ()) -> tuple[str, int]:
    """The status line with perfdata, then the long output (newline-terminated), and the exit
    code. Every part goes through nagiosplugin's Output, which removes a ``|`` (it would start
    perfdata) and says so in a warning line."""
    from nagiosplugin.output import Output

    check.name = name.lower()
    check()
    out = Output(logging.StreamHandler(io.StringIO()), verbose=0)
    out.add(check)
    out.add_longoutput(list(long_output))
    return str(out), int(check.exitcode)


def screen(text: str) -> str:
    """A line written without nagiosplugin's Check, screened the same way (no ``|``)."""
    from nagiosplugin.output import Output, filter_output

    return str(filter_output(text, Output.ILLEGAL))


def cap(text: str) -> str:
    """At most MAX_OUTPUT bytes, cut at a character, saying that it was cut."""
    data = text.encode()
    if len(data) <= MAX_OUTPUT:
        return text
    return data[:MAX_OUTPUT - 20].decode("utf-8", "ignore").rstrip("\n") + "\n(truncated)\n"


def unknown_line(plugin: str, text: str) -> str:
    """The one UNKNOWN line a plugin prints when it could not check (bad input, a bug)."""
    return cap(f"{plugin} UNKNOWN - {screen(' '.join(text.split()))}\n")
