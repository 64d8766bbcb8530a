"""What every Nagios plugin's command line shares: its parser, whose bad arguments are UNKNOWN
(3) in one line on the injected stdout (not argparse's usage on stderr and exit 2), and the
options the Nagios plugin guidelines name (-H -t -w -c -v)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from probes import files
from probes.checks.nagios import unknown_line
from probes.deadline import MAX_TIMEOUT


class UsageError(Exception):
    """A plugin was given bad arguments (cli.main turns it into the UNKNOWN line)."""

    def __init__(self, plugin: str, command: str, message: str) -> None:
        super().__init__(message)
        self.plugin, self.command, self.message = plugin, command, message

    def line(self) -> str:
        """The one line Nagios shows."""
        return unknown_line(self.plugin, f"invalid arguments: {self.message} "
                                         f"(see fedprobe {self.command} --help)").rstrip("\n")


class BadRange(UsageError):
    """-w or -c is not a Nagios range."""

    def line(self) -> str:
        """The one line Nagios shows."""
        return unknown_line(self.plugin, f"invalid range: {self.message}").rstrip("\n")


def nagios_ranges(plugin: str, command: str, *ranges: str | None) -> list[Any]:
    """The ranges (-w, -c) as nagiosplugin parses them (None stays None), or BadRange."""
    import nagiosplugin

    try:
        return [None if r is None else nagiosplugin.Range(r) for r in ranges]
    except ValueError as exc:
        raise BadRange(plugin, command, str(exc)) from None


def valid_timeout(plugin: str, command: str, seconds: float) -> float:
    """-t as given, or UsageError: a finite number of seconds, more than 0, at most an hour
    (before, -t -5, 0 or nan became about a second and blamed the site; inf never ended)."""
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise UsageError(plugin, command, f"-t {seconds:g}: must be more than 0 and at most "
                                          f"{MAX_TIMEOUT:g} seconds")
    return seconds


SCHEDULER_TIMEOUT_VAR = "FEDPROBE_SCHEDULER_TIMEOUT"


def scheduler_timeout(plugin: str, command: str, given: str | None,
                      environ: Mapping[str, str]) -> float | None:
    """The scheduler's own timeout: --scheduler-timeout, else $FEDPROBE_SCHEDULER_TIMEOUT (the
    shipped check definitions export it), else None; UsageError when it is not a positive
    number of seconds."""
    source, raw = (("--scheduler-timeout", given) if given is not None
                   else (f"${SCHEDULER_TIMEOUT_VAR}", environ.get(SCHEDULER_TIMEOUT_VAR)))
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(plugin, command, f"{source} {raw!r}: must be a number of seconds "
                                          "more than 0")
    return value


def timeout_warning(timeout: float, scheduler: float | None) -> str | None:
    """A long-output line when -t is not below the scheduler's timeout, else None: Nagios 4
    and Sensu SIGKILL the plugin's process group at theirs, before it can delete its VM."""
    if scheduler is None or timeout < scheduler:
        return None
    return (f"(warning: -t {timeout:g} s is not below the scheduler's timeout of {scheduler:g} "
            "s: the scheduler may kill this probe before it has deleted its VM; give -t a "
            "margin below it, see the scheduler's page in docs/)")


def valid_files(plugin: str, command: str, limit: int, **paths: str | Path | None) -> None:
    """Each file option given (flag spelled with _ for -) names something that can be read as
    a file of at most `limit` bytes, or UsageError (a FIFO would hang the plugin, /dev/zero
    fill its memory). A file that does not exist is left to the check, which reports it."""
    for flag, path in paths.items():
        wrong = files.unusable(path, limit) if path is not None else None
        if wrong:
            raise UsageError(plugin, command, f"--{flag.replace('_', '-')} {path}: {wrong}")


def valid_url(plugin: str, command: str, flag: str, url: str | None) -> None:
    """A URL option is one that can be asked at all, or UsageError (its user:password@ part,
    if any, not shown)."""
    from probes.config import urls

    wrong = urls.problem(url) if url is not None else None
    if wrong:
        raise UsageError(plugin, command, f"{flag} {urls.redact(url or '')[:80]!r}: {wrong}")


def named_path(value: str) -> Path:
    """An argparse type for a path option: "" is refused (Path("") is the current directory,
    so an empty --textfile or --state-dir would write wherever the plugin was started)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty: give a path")
    return Path(value)


class CommandParser(argparse.ArgumentParser):
    """argparse, except that a plugin's parser (plugin set) raises UsageError on bad input."""

    def __init__(self, *args: Any, plugin: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugin = plugin

    def error(self, message: str) -> NoReturn:
        """Bad arguments: UsageError for a plugin, argparse's own exit 2 for other commands."""
        if self.plugin is not None:
            raise UsageError(self.plugin, self.prog.split()[-1], message)
        super().error(message)


def add_plugin(sub: Any, name: str, plugin: str, help: str,
               description: str) -> CommandParser:
    """A plugin's subcommand parser: its Nagios name is in the parsed args (args.plugin)."""
    parser: CommandParser = sub.add_parser(name, help=help, description=description,
                                           plugin=plugin)
    parser.set_defaults(plugin=plugin)
    return parser


def add_nagios_options(parser: argparse.ArgumentParser | Any, *, timeout: float,
                       warning: str | None = None, critical: str | None = None,
                       measures: str = "the total seconds", verbose: bool = True) -> None:
    """-t, -w, -c (and -v) as every plugin has them."""
    parser.add_argument("-t", "--timeout", type=float, default=timeout,
                        help=f"seconds (default {timeout:g})")
    for flag, long, default in (("-w", "--warning", warning), ("-c", "--critical", critical)):
        parser.add_argument(flag, long, default=default,
                            help=f"range for {measures}"
                                 + (f" (default {default})" if default else ""))
    if verbose:
        parser.add_argument("-v", "--verbose", action="count", default=0)
