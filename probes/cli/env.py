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
    """Process exit statuses (Nagios' for plugins; 2 for bad sandbox/config input)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3
    ERROR = 2  # non-plugin commands: bad usage or configuration


@dataclass
class Environment:
    """What a command may touch: its streams and environment variables (tests swap them)."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: dict[str, str] = field(default_factory=dict)


Command = Callable[[argparse.Namespace, Environment], ExitStatus]
