"""The embedded sandbox cloud: Keystone/Nova/Glance/Neutron on loopback with real guests.

The sandbox is an independent oracle for the probe: it never imports the probe's drivers, auth,
guest-report parser or validators. Names are loaded on first use, so that `fedprobe --help`
does not pay for the web server and crypto imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probes.sandbox.config import SandboxConfig, SandboxConfigError, load_config
    from probes.sandbox.faults import Faults
    from probes.sandbox.server import Sandbox, SandboxStartError

_WHERE = {"SandboxConfig": "config", "SandboxConfigError": "config", "load_config": "config",
          "Faults": "faults", "Sandbox": "server", "SandboxStartError": "server"}

__all__ = ["Faults", "Sandbox", "SandboxConfig", "SandboxConfigError", "SandboxStartError",
           "load_config"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"probes.sandbox.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'probes.sandbox' has no attribute {name!r}")
