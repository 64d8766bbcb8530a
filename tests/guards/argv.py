"""Which programs an argv runs: the program itself and, through wrappers such as `timeout`,
`unshare`, `ip netns exec`, `nsenter`, `env`, `setsid`, `chroot`, `strace` or dev/quietly, the
program each
wrapper starts. A shell's -c script is not parsed: the shell itself is what is checked."""

from __future__ import annotations

import os
from collections.abc import Sequence

# Options that take a separate value, per wrapper (the --opt=value form needs nothing).
_VALUED = {
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "unshare": {"--propagation", "--setgroups", "-S", "--setuid", "-G", "--setgid", "-R",
                "--root", "-w", "--wd", "--map-user", "--map-group", "--map-users",
                "--map-groups", "-l", "--load-interp"},
    "nsenter": {"-t", "--target", "-S", "--setuid", "-G", "--setgid", "-r", "-w"},
    "env": {"-u", "--unset", "-C", "--chdir", "-S", "--split-string"},
    "setsid": set(),
    "nice": {"-n", "--adjustment"},
    "ionice": {"-c", "--class", "-n", "--classdata"},
    "chroot": {"--userspec", "--groups"},
    "stdbuf": {"-i", "-o", "-e"},
    "strace": {"-o", "-e", "-p", "-s", "-u", "-E", "-I", "-a", "-b", "-O", "-P", "-S", "-X"},
    "quietly": set(),  # dev/quietly LOG COMMAND...
    "sudo": {"-u", "--user", "-g", "--group", "-C", "--close-from", "-D", "--chdir", "-h",
             "--host", "-p", "--prompt", "-R", "--chroot", "-r", "--role", "-t", "--type",
             "-T", "--command-timeout", "-U", "--other-user"},
}
# After the options, how many operands come before the command (timeout's duration,
# chroot's new root).
_OPERANDS = {"timeout": 1, "chroot": 1, "quietly": 1}


def _command_after(wrapper: str, args: Sequence[str]) -> list[str]:
    """The command a wrapper runs, given the wrapper's arguments."""
    valued = _VALUED[wrapper]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        i += 2 if arg in valued else 1
    rest = list(args[i:])
    if wrapper == "env":
        while rest and "=" in rest[0] and not rest[0].startswith("="):
            rest.pop(0)
    return rest[_OPERANDS.get(wrapper, 0):]


def programs_in(executable: str, args: Sequence[str]) -> list[tuple[str, str]]:
    """(program as given, its name) for the program and every program its wrappers start."""
    chain: list[tuple[str, str]] = []
    program, rest = executable, list(args[1:])
    while program:
        name = os.path.basename(program)
        chain.append((program, name))
        if name == "ip":
            if rest[:2] == ["netns", "exec"] and len(rest) > 3:
                program, rest = rest[3], rest[4:]
                continue
            break
        if name not in _VALUED:
            break
        command = _command_after(name, rest)
        if not command:
            if name == "unshare":  # no command: unshare runs $SHELL, else /bin/sh
                chain.append(("sh", "sh"))
            break
        program, rest = command[0], command[1:]
    return chain
