"""What a command may touch and what it returns: a leaf every command imports (so no command
imports the dispatcher, and the dispatcher imports every command)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TextIO


class ExitStatus(IntEnum):
    """A plugin's exit status: Nagios' four states."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class CommandStatus(IntEnum):
    """The exit status of a command that is not a plugin (sandbox, exporter): its own names,
    not an alias of a Nagios state (ERROR is not CRITICAL, though both exit 2)."""

    SUCCESS = 0
    ERROR = 2  # bad usage or configuration, or an internal error


@dataclass
class Environment:
    """What a command may touch: its streams and environment variables (tests swap them)."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: dict[str, str] = field(default_factory=dict)


Command = Callable[[argparse.Namespace, Environment], ExitStatus | CommandStatus]
