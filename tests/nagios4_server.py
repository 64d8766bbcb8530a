"""A real Nagios 4 (Debian's nagios4-core) for tests: run in the foreground from a temporary
directory with every path there, the shipped definitions included unmodified, and results
read back from its status.dat; commands go in through its external command FIFO.

../shared/specs/nagios-argo.md has the facts this relies on: interval_length=1 makes the
templates' intervals seconds, query_socket must be set, Nagios makes the FIFO itself, and at
service_check_timeout its worker SIGKILLs the plugin's process group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probes import programs
from tests import oidc_site

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (ROOT / "packaging/nagios4/fedprobe-commands.cfg",
           ROOT / "packaging/nagios4/fedprobe-services.cfg")

MAIN_CFG = """\
log_file={d}/nagios.log
{cfg_files}
object_cache_file={d}/objects.cache
precached_object_file={d}/objects.precache
status_file={d}/status.dat
status_update_interval=1
nagios_user={user}
nagios_group={group}
check_external_commands=1
command_file={d}/nagios.cmd
query_socket={d}/nagios.qh
lock_file={d}/nagios.lock
temp_file={d}/nagios.tmp
temp_path={d}
check_result_path={d}/checkresults
state_retention_file={d}/retention.dat
retain_state_information=0
use_syslog=0
log_rotation_method=n
interval_length=1
service_inter_check_delay_method=n
host_inter_check_delay_method=n
max_service_check_spread=1
max_host_check_spread=1
check_result_reaper_frequency=1
service_check_timeout={timeout}
service_check_timeout_state=c
enable_notifications=1
execute_service_checks=1
enable_environment_macros=0
enable_flap_detection=0
soft_state_dependencies=0
illegal_macro_output_chars=`~$&|'"<>
"""

# The test's own objects: a time period, a contact whose notifications append to a file.
TEST_OBJECTS = """\
define timeperiod {{
    timeperiod_name always
    alias           always
    sunday    00:00-24:00
    monday    00:00-24:00
    tuesday   00:00-24:00
    wednesday 00:00-24:00
    thursday  00:00-24:00
    friday    00:00-24:00
    saturday  00:00-24:00
}}
define command {{
    command_name test-notify
    command_line {d}/notify.sh $HOSTNAME$ $SERVICEDESC$ $SERVICESTATE$ $NOTIFICATIONTYPE$
}}
define contact {{
    contact_name                    tester
    service_notification_period     always
    host_notification_period        always
    service_notification_options    w,u,c,r
    host_notification_options       n
    service_notification_commands   test-notify
    host_notification_commands      test-notify
}}
"""

def host(name: str, groups: str, **variables: str) -> str:
    """A site as docs/nagios4.md tells an operator to define one (its contacts, time period
    and notification interval are inherited by the services)."""
    custom = "".join(f"    _{k.upper()} {v}\n" for k, v in variables.items())
    return (f"define host {{\n    host_name {name}\n    address 127.0.0.1\n"
            f"    hostgroups {groups}\n    max_check_attempts 1\n    check_period always\n"
            f"    notification_period always\n    notification_interval 0\n"
            f"    contacts tester\n{custom}}}\n")


@dataclass
class Nagios:
    """One running Nagios 4."""

    directory: Path
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def status_file(self) -> Path:
        return self.directory / "status.dat"

    def services(self) -> dict[tuple[str, str], dict[str, str]]:
        """servicestatus blocks of status.dat, by (host, service)."""
        try:
            text = self.status_file.read_text(errors="replace")
        except FileNotFoundError:
            return {}
        found: dict[tuple[str, str], dict[str, str]] = {}
        for block in text.split("servicestatus {")[1:]:
            fields: dict[str, str] = {}
            for line in block.split("}", 1)[0].splitlines():
                key, sep, value = line.strip().partition("=")
                if sep:
                    fields[key] = value
            found[(fields["host_name"], fields["service_description"])] = fields
        return found

    def wait(self, what: str, cond: Callable[[dict[tuple[str, str], dict[str, str]]], Any],
             within: float) -> Any:
        """Poll status.dat until cond(services) is truthy; its value."""
        def describe() -> str:
            states = {k: (v.get("current_state"), v.get("plugin_output"))
                      for k, v in self.services().items()}
            return f"status: {states}; log: {self.tail()}"

        assert self.process is not None
        return oidc_site.poll(what, lambda: cond(self.services()), within, self.process,
                              describe)

    def command(self, line: str) -> None:
        """An external command ([time] is added), through the FIFO Nagios made."""
        with (self.directory / "nagios.cmd").open("w") as fifo:
            fifo.write(f"[{int(time.time())}] {line}\n")

    def force_check(self, host_name: str, service: str) -> None:
        self.command(f"SCHEDULE_FORCED_SVC_CHECK;{host_name};{service};{int(time.time())}")

    def notifications(self) -> list[list[str]]:
        return oidc_site.notifications(self.directory)

    def tail(self) -> str:
        return oidc_site.tail(self.directory / "nagios.log")


def config(directory: Path, hosts: str, timeout: int) -> Path:
    """Write nagios.cfg with the shipped files and the test's objects; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "checkresults").mkdir(exist_ok=True)
    oidc_site.notify_script(directory)
    test_cfg = directory / "test.cfg"
    test_cfg.write_text(TEST_OBJECTS.format(d=directory) + hosts)
    files = "\n".join(f"cfg_file={f}" for f in (*SHIPPED, test_cfg))
    user = os.environ.get("USER") or "root"
    main = directory / "nagios.cfg"
    main.write_text(MAIN_CFG.format(d=directory, cfg_files=files, user=user, group=user,
                                    timeout=timeout))
    return main


def verify(main: Path) -> subprocess.CompletedProcess[str]:
    """nagios4 -v: the configuration as Nagios reads it."""
    return subprocess.run([programs.require("nagios4"), "-v", str(main)], capture_output=True,
                          text=True, timeout=60)


def run(main: Path, env: dict[str, str]) -> Iterator[Nagios]:
    """Nagios in the foreground until the caller is done; then stopped (and its plugins)."""
    nagios = Nagios(main.parent)
    nagios.process = subprocess.Popen([programs.require("nagios4"), str(main)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, start_new_session=True)
    try:
        yield nagios
    finally:
        try:
            os.killpg(nagios.process.pid, signal.SIGTERM)
            nagios.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(nagios.process.pid, signal.SIGKILL)
            nagios.process.wait(timeout=10)
