"""How a namespace guest's user-data is started: inside the guest's network namespace, with a
mount and UTS namespace of its own, so it sees a freshly booted image's private hostname,
/root, /home, /run and temporary directories rather than the host's."""

from __future__ import annotations

from pathlib import Path

# Runs as root in the guest's own mount and UTS namespaces: keep the user-data where cloud-init
# would, hide the host's home directories, give the guest temporary directories that vanish
# with it (nothing it writes there outlives it), set its hostname, run the script. The script is
# opened before any mount: the sandbox's state directory may lie under one of them.
_WRAPPER = """set -e
exec 3<"$1"
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/cloud-init/scripts
cat <&3 >/run/cloud-init/scripts/part-001
exec 3<&-
chmod 700 /run/cloud-init/scripts/part-001
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t tmpfs -o mode=0700 tmpfs /root
mount -t tmpfs -o mode=0755 tmpfs /home
hostname "$2"
cd /root
exec /run/cloud-init/scripts/part-001
"""


def boot_command(netns: str, hostname: str, script: Path) -> list[str]:
    """The argv that runs the written user-data script as the guest's cloud-init would."""
    return ["ip", "netns", "exec", netns, "unshare", "--uts", "--mount", "--propagation",
            "private", "sh", "-c", _WRAPPER, "guest", str(script), hostname or "guest"]
