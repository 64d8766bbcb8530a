"""`make demo`: start the embedded sandbox cloud (HTTPS, test CA) and drive one server through
create -> ACTIVE -> console output -> delete -> gone with openstacksdk, a client nobody here
wrote, printing each step and its duration.

(The full fedprobe VM probe replaces this tour once it lands; the sandbox stays its target.)
"""

from __future__ import annotations

import base64
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

import openstack
import openstack.config

from probes.sandbox import Sandbox, SandboxConfigError, SandboxStartError

USER_DATA = """#!/bin/sh
# Runs once inside the guest, like cloud-init runs a #! user-data script.
echo "demo-begin {nonce}"
echo "kernel: $(uname -sr), hostname: $(hostname)"
MKEYS="total_cpu hs06 shutdowntime grace_secs"
JKEYS="allocated_cpu jobstart_secs wall_limit_secs job_id"
from_dir() {{ for k in $2; do [ -f "$1/$k" ] && printf '%s=%s ' "$k" "$(cat "$1/$k")"; done; }}
from_url() {{ for k in $2; do v=$(wget -q -T 5 -O- "$1/$k") && printf '%s=%s ' "$k" "$v"; done; }}
if [ -n "${{MACHINEFEATURES:-}}" ]; then
    echo "machinefeatures ($MACHINEFEATURES): $(from_dir "$MACHINEFEATURES" "$MKEYS")"
    echo "jobfeatures ($JOBFEATURES): $(from_dir "$JOBFEATURES" "$JKEYS")"
else  # inside a namespace guest: the metadata service names the MJF URLs, as at Vac sites
    meta=$(wget -q -T 5 -O- http://169.254.169.254/openstack/latest/meta_data.json)
    mf=$(echo "$meta" | sed -n 's/.*"machinefeatures": *"\\([^"]*\\)".*/\\1/p')
    jf=$(echo "$meta" | sed -n 's/.*"jobfeatures": *"\\([^"]*\\)".*/\\1/p')
    echo "machinefeatures ($mf): $(from_url "$mf" "$MKEYS")"
    echo "jobfeatures ($jf): $(from_url "$jf" "$JKEYS")"
fi
if command -v ip >/dev/null 2>&1; then
    echo "addresses: $(ip -o addr show scope global | awk '$4 !~ /^169[.]254/ {{print $4}}' \\
        | tr '\\n' ' ')"
fi
echo "demo-end {nonce}"
"""


class Tour:
    """Prints one line per step: elapsed seconds, step name, result."""

    def __init__(self) -> None:
        self.failed = False

    def step(self, name: str, action: Callable[[], tuple[Any, str]]) -> Any:
        """Run one step, print its duration and what it found; stop the tour on failure."""
        start = time.monotonic()
        try:
            value, detail = action()
        except Exception as exc:  # the tour reports any client/server error as the step's result
            self._line(time.monotonic() - start, name, "FAILED", f"{type(exc).__name__}: {exc}")
            self.failed = True
            raise
        self._line(time.monotonic() - start, name, "OK", detail)
        return value

    @staticmethod
    def _line(seconds: float, name: str, state: str, detail: str) -> None:
        print(f"  {seconds:6.2f}s  {name:<9} {state:<6} {detail}", flush=True)


def _connect(sb: Sandbox) -> Any:
    config = openstack.config.OpenStackConfig(config_files=[str(sb.clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one("sandbox"))


def _tour(sb: Sandbox, tour: Tour) -> None:
    conn = _connect(sb)
    nonce = secrets.token_hex(8)

    def auth() -> tuple[Any, str]:
        token = conn.authorize()
        services = sorted({e["type"] for e in conn.session.auth.get_access(conn.session)
                           .service_catalog.catalog})
        return token, f"Keystone token for demo/demo; catalog: {', '.join(services)}"

    def discover() -> tuple[Any, str]:
        image = next(i for i in conn.image.images() if i.name.startswith("cirros"))
        flavors = sorted(conn.compute.flavors(), key=lambda f: (f.ram, f.disk, f.vcpus))
        flavor = next(f for f in flavors
                      if f.ram >= (image.min_ram or 0) and f.disk >= (image.min_disk or 0))
        network = next(n for n in conn.network.networks() if n.name == "demo-net")
        return (image, flavor, network), (f"image {image.name}, flavor {flavor.name} "
                                          f"({flavor.vcpus} vCPU, {flavor.ram} MiB), "
                                          f"network {network.name}")

    tour.step("auth", auth)
    image, flavor, network = tour.step("discover", discover)
    user_data = base64.b64encode(USER_DATA.format(nonce=nonce).encode()).decode()
    server = tour.step("create", lambda: (s := conn.compute.create_server(
        name=f"fedprobe-demo-{nonce[:6]}", image_id=image.id, flavor_id=flavor.id,
        networks=[{"uuid": network.id}], user_data=user_data,
        metadata={"fedprobe.host": "demo"}), f"server {s.name} accepted (id {s.id})"))
    try:
        server = tour.step("boot", lambda: (s := conn.compute.wait_for_server(
            server, status="ACTIVE", interval=0.25, wait=120),
            "ACTIVE; addresses " + ", ".join(a["addr"] for net in s.addresses.values()
                                            for a in net)))

        def console() -> tuple[str, str]:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                text = conn.compute.get_server_console_output(server, length=40)["output"]
                if f"demo-end {nonce}" in text:
                    return text, "this run's user-data ran (nonce found in the console log)"
                time.sleep(0.25)
            raise TimeoutError("the user-data's end marker never reached the console")

        output = tour.step("console", console)
        begin = output.index(f"demo-begin {nonce}")
        for line in output[begin:].splitlines():
            print(f"            | {line}")
    finally:
        tour.step("delete", lambda: (conn.compute.delete_server(server), "delete accepted"))
        tour.step("gone", lambda: (conn.compute.wait_for_delete(server, interval=0.1, wait=60),
                                   "404: the server no longer exists"))


def main() -> int:
    """Run the tour; exit 0 when every step worked and nothing was left behind."""
    print("fedprobe demo: one VM lifecycle against the embedded sandbox cloud")
    try:
        sb = Sandbox(tls=True).start()
    except (SandboxConfigError, SandboxStartError) as exc:
        print(f"demo: the sandbox did not start: {exc}", file=sys.stderr)
        return 2
    tour = Tour()
    try:
        print(f"  sandbox: {sb.base_url} and {sb.base_url_v6} (HTTPS, test CA {sb.ca_file})")
        print(f"  guests:  {sb.guest_kind} (user-data really runs)")
        print("  client:  openstacksdk with the sandbox's clouds.yaml, cloud 'sandbox'")
        try:
            _tour(sb, tour)
        except Exception:  # noqa: S110 - the failing step already printed what went wrong
            pass
        left = sb.live_servers()
        print(f"  leftovers: {len(left)} server(s) still in the sandbox")
    finally:
        sb.stop()
    ok = not tour.failed and not left
    print("demo finished: " + ("OK, every step worked and nothing was left behind" if ok
                               else "FAILED (see the steps above)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
