"""``fedprobe sandbox``: serve the embedded cloud until SIGTERM/Ctrl-C, then clean up."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from probes.cli.env import CommandStatus, Environment


def register(sub: Any) -> None:
    """Add the ``sandbox`` subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "sandbox", help="serve the embedded sandbox cloud on loopback",
        description="Serve Keystone v3, Nova v2.1, Glance v2 and Neutron v2.0 on 127.0.0.1 and "
                    "[::1], with guests that really run their user-data.")
    p.add_argument("--config", metavar="FILE", help="sandbox YAML (default: built-in cloud)")
    p.add_argument("--port", type=int, default=0, help="port on both families (0: a free one)")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated test CA")
    p.add_argument("--state-dir", metavar="DIR", type=Path,
                   help="where clouds.yaml, the CA and guest files go (default: a temp dir "
                        "removed at exit)")
    p.add_argument("--guests", choices=("auto", "process", "namespace", "qemu"),
                   help="guest kind (overrides the config)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log sandbox activity to stderr")
    p.set_defaults(run=run)


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)
    while not stop.wait(1.0):
        pass


def run(args: argparse.Namespace, env: Environment) -> CommandStatus:
    """Start the sandbox, print where it is, serve until a signal, stop cleanly."""
    from probes.sandbox.config import SandboxConfigError, load_config
    from probes.sandbox.guests.base import GuestError
    from probes.sandbox.server import Sandbox, SandboxStartError

    if args.verbose:
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        if args.guests:
            config = config.model_copy(update={"guests": config.guests.model_copy(
                update={"kind": args.guests})})
        if not 0 <= args.port <= 65535:
            raise SandboxConfigError(f"--port {args.port}: must be 0..65535")
        if args.state_dir is not None:
            args.state_dir.mkdir(parents=True, exist_ok=True)
        sandbox = Sandbox(config, port=args.port, tls=args.tls, state_dir=args.state_dir)
        sandbox.start()
    except (SandboxConfigError, SandboxStartError, GuestError, OSError) as exc:
        print(f"fedprobe sandbox: {exc}", file=env.stderr)
        return CommandStatus.ERROR
    try:
        out = env.stdout
        print(f"fedprobe sandbox listening on {sandbox.base_url}"
              + (f" and {sandbox.base_url_v6}" if sandbox.base_url_v6 else ""), file=out)
        print(f"  Keystone auth URL: {sandbox.auth_url}", file=out)
        print(f"  guests:            {sandbox.guest_kind}", file=out)
        print(f"  clouds.yaml:       {sandbox.clouds_yaml}  (cloud 'sandbox')", file=out)
        print(f"  fedprobe sites:    {sandbox.sites_yaml}  (site 'sandbox')", file=out)
        if sandbox.ca_file:
            print(f"  CA certificate:    {sandbox.ca_file}", file=out)
        print(f"  control token in:  {sandbox.state_dir / 'control-token'}", file=out)
        print(f"  try: fedprobe vm -v --sites {sandbox.sites_yaml} --site sandbox", file=out)
        print("Stop with Ctrl-C or SIGTERM; every guest is removed on the way out.", file=out)
        out.flush()
        _wait_for_signal()
    finally:
        sandbox.stop()
    print("fedprobe sandbox stopped; guests removed.", file=env.stdout)
    return CommandStatus.SUCCESS
