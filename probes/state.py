"""The four Nagios states, named in one place: every check, plugin and metric uses these."""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    """A check's verdict; its value is the plugin's exit status and the metric's value."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


OK, WARNING, CRITICAL, UNKNOWN = State.OK, State.WARNING, State.CRITICAL, State.UNKNOWN
NAMES = tuple(s.name for s in State)  # NAMES[state] for an int state
