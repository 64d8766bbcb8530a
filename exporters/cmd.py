"""``fedprobe exporter --config FILE``: run the checks on their schedule and serve Prometheus.
SIGHUP (or POST /-/reload) reloads the config, keeping the old one if the new one is bad;
SIGTERM/SIGINT stop scheduling, let running checks clean up (bounded) and exit."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from probes.cli.env import CommandStatus, Environment


def register(sub: Any) -> None:
    """Add the ``exporter`` subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "exporter", help="Prometheus exporter: run the checks on a schedule, serve /metrics",
        description="Run VM, Keystone, API, proxy and token checks of the configured sites on "
                    "their own schedule and serve the results to Prometheus (/metrics), with "
                    "/probe for fast checks inside a scrape and a status page on /.")
    p.add_argument("--config", required=True, type=Path, metavar="FILE",
                   help="exporter YAML (see config/exporter.example.yaml)")
    p.add_argument("--check-config", action="store_true",
                   help="validate the config (and every site and secret file it names), exit")
    p.add_argument("--log-level", default="info",
                   choices=("debug", "info", "warning", "error"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace, env: Environment) -> CommandStatus:
    """Serve until SIGTERM/SIGINT; exit 0 when every check ended cleanly."""
    from exporters.app import Exporter
    from exporters.config import ConfigError, load
    from exporters.server import HttpServers
    from exporters.web import WebApp

    logging.basicConfig(level=args.log_level.upper(), stream=env.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("keystoneauth", "urllib3", "stevedore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
    try:
        if args.check_config:
            config = load(args.config)
            print(f"{args.config}: OK ({len(config.sites)} sites, {len(config.jobs)} scheduled "
                  "checks)", file=env.stdout)
            return CommandStatus.SUCCESS
        exporter = Exporter(args.config)
        app = WebApp(exporter)
        servers = HttpServers(exporter.config.file.listen, app)
    except ConfigError as exc:
        print(f"fedprobe exporter: {exc}", file=env.stderr)
        return CommandStatus.ERROR
    stop = threading.Event()
    reload = threading.Event()

    got: list[str] = []

    def on_stop(signum: int, frame: object) -> None:
        got.append(signal.Signals(signum).name)
        stop.set()

    def on_hup(signum: int, frame: object) -> None:
        reload.set()
        stop.set()  # wakes the loop below; it tells the two apart

    old = {s: signal.signal(s, on_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    old[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        sys.setswitchinterval(0.001)  # request threads wait less for the GIL behind checks
        exporter.start()
        servers.start()
        app.ready = True
        shown = ", ".join(f"http://[{h}]:{p}/" if ":" in h else f"http://{h}:{p}/"
                          for h, p in servers.addresses)
        logging.getLogger("fedprobe.exporter").info("serving on %s", shown)
        while True:
            stop.wait()
            if reload.is_set():
                reload.clear()
                stop.clear()
                exporter.reload()
                continue
            break
        app.ready = False
        clean = exporter.stop()
    finally:
        servers.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    why = got[0] if got else "a stop request"
    log = logging.getLogger("fedprobe.exporter")
    if clean:
        log.info("stopped cleanly after %s: every running check ended", why)
        return CommandStatus.SUCCESS
    log.error("stopped after %s with checks still running (see above)", why)
    return CommandStatus.ERROR
