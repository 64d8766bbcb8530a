"""The ``fedprobe`` command: argparse subcommands; each returns an exit status, only this edge
prints errors and exits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TextIO

from probes import __version__


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


def _parser() -> tuple[argparse.ArgumentParser, Any]:
    from exporters import cmd as exporter_cmd
    from probes.cli import fast as health_cmd
    from probes.cli import proxy as proxy_cmd
    from probes.cli import token as token_cmd
    from probes.cli import vm as vm_cmd
    from probes.sandbox import cmd as sandbox_cmd

    parser = argparse.ArgumentParser(
        prog="fedprobe",
        description="Federated cloud monitoring probes (OpenStack/OCCI sites).")
    parser.add_argument("--version", action="version", version=f"fedprobe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    vm_cmd.register(sub)
    proxy_cmd.register(sub)
    token_cmd.register(sub)
    health_cmd.register(sub)
    sandbox_cmd.register(sub)
    exporter_cmd.register(sub)
    return parser, sub


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> ExitStatus:
    """Parse arguments and run one subcommand."""
    env = env or Environment()
    parser, sub = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the subcommand's own error(): plugins answer UNKNOWN (3) in one line
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    command: Command = args.run
    try:
        return command(args, env)
    except Exception as exc:  # the last edge: one line, never a traceback
        plugins = {"vm": "FEDCLOUD_VM", "proxy": "X509_PROXY", "token": "OIDC_TOKEN",
                   "keystone": "KEYSTONE", "api": "CLOUD_API"}
        if args.command in plugins:
            print(f"{plugins[args.command]} UNKNOWN - internal error: {type(exc).__name__}: "
                  f"{str(exc)[:200]}", file=env.stdout)
            return ExitStatus.UNKNOWN
        print(f"fedprobe {args.command}: internal error: {type(exc).__name__}: {exc}",
              file=env.stderr)
        return ExitStatus.ERROR


def console_main() -> None:
    """Entry point of the ``fedprobe`` console script."""
    import os

    sys.exit(int(main(None, Environment(environ=dict(os.environ)))))
