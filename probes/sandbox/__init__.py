"""The embedded sandbox cloud: Keystone/Nova/Glance/Neutron on loopback with real guests.

The sandbox is an independent oracle for the probe: it never imports the probe's drivers, auth,
guest-report parser or validators.
"""

from probes.sandbox.config import SandboxConfig, SandboxConfigError, load_config
from probes.sandbox.faults import Faults
from probes.sandbox.server import Sandbox, SandboxStartError

__all__ = ["Faults", "Sandbox", "SandboxConfig", "SandboxConfigError", "SandboxStartError",
           "load_config"]
