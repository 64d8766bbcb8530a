"""The ``fedprobe`` command: argparse subcommands; each returns an exit status, only this edge
prints errors and exits."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from exporters import cmd as exporter_cmd
from probes import __version__
from probes.checks.nagios import unknown_line
from probes.cli import early, fast, proxy, selftest, token, vm
from probes.cli.env import Command, CommandStatus, Environment, ExitStatus
from probes.cli.plugin import CommandParser, UsageError
from probes.sandbox import cmd as sandbox_cmd


def _parser() -> tuple[CommandParser, Any]:
    parser = CommandParser(
        prog="fedprobe",
        description="Federated cloud monitoring probes (OpenStack/OCCI sites).")
    parser.add_argument("--version", action="version", version=f"fedprobe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in (vm, proxy, token, fast, selftest, sandbox_cmd, exporter_cmd):
        command.register(sub)
    return parser, sub


def main(argv: Sequence[str] | None = None,
         env: Environment | None = None) -> ExitStatus | CommandStatus:
    """Parse arguments and run one subcommand."""
    env = env or Environment()
    parser, sub = _parser()
    try:
        if any("\x00" in arg for arg in argv or ()):  # exec cannot pass one; a caller might
            raise UsageError(_plugin_of(argv), (list(argv or ()) or ["fedprobe"])[0],
                             "an argument holds a NUL character")
        args, extra = parser.parse_known_args(argv)
        if extra:  # the subcommand's own error(): plugins answer UNKNOWN (3) in one line
            sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    except UsageError as exc:
        print(exc.line(), file=env.stdout)
        early.release()
        return ExitStatus.UNKNOWN
    command: Command = args.run
    if not getattr(args, "takes_signals", False):
        early.release()  # this command dies of SIGTERM as it always did
    try:
        return command(args, env)
    except UsageError as exc:  # bad input found while running (e.g. a -w that is no range)
        print(exc.line(), file=env.stdout)
        return ExitStatus.UNKNOWN
    except Exception as exc:  # the last edge: one line, never a traceback
        plugin = getattr(args, "plugin", None)
        if plugin:
            env.stdout.write(unknown_line(plugin, f"internal error: {type(exc).__name__}: "
                                                  f"{str(exc)[:200]}"))
            return ExitStatus.UNKNOWN
        print(f"fedprobe {args.command}: internal error: {type(exc).__name__}: {exc}",
              file=env.stderr)
        return CommandStatus.ERROR


def _plugin_of(argv: Sequence[str] | None) -> str:
    """The Nagios name of the plugin an argv runs (FEDPROBE if it names none)."""
    from probes.cli.fast import NAMES
    from probes.cli.proxy import NAME as PROXY
    from probes.cli.token import NAME as TOKEN
    from probes.runner.result import PLUGIN_NAME

    names = {**NAMES, "vm": PLUGIN_NAME, "proxy": PROXY, "token": TOKEN}
    return names.get((list(argv or ()) or [""])[0], "FEDPROBE")


def console_main() -> None:
    """Entry point of the ``fedprobe`` console script."""
    import os

    sys.exit(int(main(None, Environment(environ=dict(os.environ)))))
