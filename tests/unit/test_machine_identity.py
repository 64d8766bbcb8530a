"""The machine id, the state directory and the limits the no-leak design rests on."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from probes.cli.env import Environment
from probes.cli.main import main
from probes.runner import statedir
from probes.runner.identity import StateDirError, machine_id

ID = "3d1219c7c4c5404aaa1f6d2a48adfda4"


def root(tmp_path: Path, machine: str | None, container: bool = False) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    if machine is not None:
        (r / "etc" / "machine-id").write_text(machine + "\n")
    if container:
        (r / ".dockerenv").write_text("")
    return r


def test_etc_machine_id_is_used_but_never_published(tmp_path: Path) -> None:
    got = machine_id(tmp_path / "state", root(tmp_path, ID), environ={})
    assert len(got) == 16 and got not in ID  # derived, not a piece of the confidential id
    assert got == machine_id(tmp_path / "other", root(tmp_path / "x", ID), environ={})
    assert not (tmp_path / "state" / "machine-id").exists()


@pytest.mark.parametrize("machine,container,environ", [
    (ID, True, {}),                  # an image's id, shared by every container of it
    (ID, False, {"container": "podman"}),
    (None, False, {}), ("", False, {}), ("0" * 32, False, {}), ("not-an-id", False, {}),
])
def test_otherwise_a_random_id_is_kept_in_the_state_directory(
        tmp_path: Path, machine: str | None, container: bool, environ: dict[str, str]) -> None:
    state = statedir.prepare(tmp_path / "state")
    r = root(tmp_path, machine, container)
    first = machine_id(state, r, environ)
    assert (state / "machine-id").read_text().strip() == first
    assert machine_id(state, r, environ) == first
    assert machine_id(statedir.prepare(tmp_path / "twin"), r, environ) != first


def test_processes_starting_together_agree_on_the_id(tmp_path: Path) -> None:
    state = statedir.prepare(tmp_path / "state")
    r = root(tmp_path, None)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(machine_id(state, r, {})))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1


def test_a_damaged_machine_id_file_names_itself(tmp_path: Path) -> None:
    state = statedir.prepare(tmp_path / "state")
    (state / "machine-id").write_text("garbage\n")
    with pytest.raises(StateDirError, match=r"machine-id: not a machine id"):
        machine_id(state, root(tmp_path, None), {})


def test_state_directory_default_order(tmp_path: Path) -> None:
    assert statedir.default({"FEDPROBE_STATE_DIR": "/x"}) == Path("/x")
    home = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    if not (statedir.PACKAGED.is_dir() and os.access(statedir.PACKAGED, os.W_OK)):
        assert statedir.default(home) == tmp_path / "xdg" / "fedprobe"
        assert statedir.default({"HOME": str(tmp_path)}) == \
            tmp_path / ".local" / "state" / "fedprobe"


def plugin(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO(),
                      environ=environ if environ is not None else dict(os.environ))
    return main(list(argv), env), out.getvalue()


@pytest.mark.parametrize("argv,message", [
    (["-t", "3601"], "-t 3601: must be more than 0 and at most 3600 seconds"),
    (["-t", "0"], "-t 0: must be more than 0 and at most 3600 seconds"),
    (["--monitoring-host", "h" * 256], "--monitoring-host: must be 1 to 255 characters"),
])
def test_vm_limits_are_usage_errors(argv: list[str], message: str) -> None:
    code, out = plugin("vm", *argv)
    assert code == 3 and out.startswith("FEDCLOUD_VM UNKNOWN - invalid arguments: ")
    assert message in out and len(out.splitlines()) == 1


@pytest.mark.parametrize("command,name", [("vm", "FEDCLOUD_VM"), ("keystone", "KEYSTONE"),
                                          ("api", "CLOUD_API"), ("proxy", "X509_PROXY"),
                                          ("token", "OIDC_TOKEN")])
@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "3601"])
def test_every_plugin_refuses_a_timeout_that_is_no_deadline(command: str, name: str,
                                                            value: str) -> None:
    required = ["--file", "/nonexistent"] if command == "token" else []
    code, out = plugin(command, *required, f"--timeout={value}")
    shown = f"{float(value):g}"
    assert (code, out) == (3, f"{name} UNKNOWN - invalid arguments: -t {shown}: must be more "
                              f"than 0 and at most 3600 seconds (see fedprobe {command} "
                              "--help)\n")


def test_a_bad_phase_range_is_refused_before_any_cloud_is_asked(tmp_path: Path) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text("sites:\n  s:\n    auth: {auth_url: 'https://127.0.0.1:9/v3', username: u,"
                     " password: p, project_name: p}\n    image: {name: cirros}\n")
    code, out = plugin("vm", "--sites", str(sites), "--site", "s", "--warn-phase",
                       "boot=bogus", "-t", "5")
    assert code == 3 and out.startswith("FEDCLOUD_VM UNKNOWN - invalid range: "), out
    assert "bogus" in out and len(out.splitlines()) == 1


def test_an_unwritable_state_directory_is_unknown_and_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    sites = tmp_path / "sites.yaml"
    sites.write_text("sites:\n  s:\n    auth: {auth_url: 'https://k.example/v3', username: u,"
                     " password: p, project_name: p}\n    image: {name: cirros}\n")
    code, out = plugin("vm", "--sites", str(sites), "--site", "s", "--state-dir",
                       str(blocker / "sub"))
    assert code == 3, out
    assert out == f"FEDCLOUD_VM UNKNOWN - state directory {blocker / 'sub'}: Not a directory\n"
