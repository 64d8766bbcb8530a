"""Fuzzing what an operator gives fedprobe — command-line arguments, sites files (fedprobe's and
EGI's per-site YAML), clouds.yaml, the exporter's config, token and proxy files: never a
traceback or an "internal error", always an exit 0-3 with one line, a mistake is UNKNOWN (3)
naming what was wrong, and no secret is shown. Nothing reachable answers here: a configuration
good enough to be tried meets a closed loopback port, which is CRITICAL ("cannot connect")."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from exporters.config import ConfigError, load
from probes.config.site import SECRET_OPTIONS
from tests.fuzz.harness import (
    SECRET,
    closed_port,
    environ,
    holds_contract,
    mutations,
    operator_mistake,
    paths,
    run,
    urls,
    values,
    words,
    write_yaml,
)

PASSWORD = "Canary-Password-c41d"  # the content of the password file


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from closed_port()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fuzz")
    (work / "pw").write_text(PASSWORD + "\n")
    (work / "home").mkdir()
    return work


def site_doc(port: int, work: Path) -> dict[str, Any]:
    return {"defaults": {"region": "R1", "policy": {"ipv6": "warning"}},
            "sites": {"S": {"auth": {"type": "password",
                                     "auth_url": f"http://127.0.0.1:{port}/v3",
                                     "username": "u", "password_file": str(work / "pw"),
                                     "project_name": "p"},
                            "image": {"name": "cirros"}, "port": 22}}}


def tried_the_site(r: Any) -> bool:
    """The configuration was good enough to be tried: the closed port answered."""
    return r.code == 2 and "cannot connect" in r.out


# -- sites files ---------------------------------------------------------------------------------
@given(st.data())
def test_a_mutated_sites_file(port: int, work: Path, data: st.DataObject) -> None:
    where, doc = data.draw(mutations(site_doc(port, work)))
    path = write_yaml(work / "sites.yaml", doc)
    command = data.draw(st.sampled_from(["keystone", "api", "vm"]))
    plugin = {"keystone": "KEYSTONE", "api": "CLOUD_API", "vm": "FEDCLOUD_VM"}[command]
    r = run([command, "--sites", str(path), "--site", "S", "-t", "5"], environ(work))
    holds_contract(r, plugin, PASSWORD)
    assert r.code == 3 or tried_the_site(r), (where, r)


@given(st.data())
def test_a_secret_in_the_wrong_place_is_never_shown(port: int, work: Path,
                                                    data: st.DataObject) -> None:
    """A secret as a secret option's value of the wrong type, as the value of a *_file key, or
    under a misspelt key in auth:."""
    doc = site_doc(port, work)
    auth = doc["sites"]["S"]["auth"]
    key = data.draw(st.sampled_from([*sorted(SECRET_OPTIONS), "password_file", "token_file",
                                     "pasword", "secret", "client_secret_file"]))
    auth[key] = data.draw(st.sampled_from([SECRET, [SECRET], {"x": SECRET}, f"~/{SECRET}",
                                           f"{SECRET}\n", 5]))
    path = write_yaml(work / "sites.yaml", doc)
    r = run(["keystone", "--sites", str(path), "--site", "S", "-t", "5"], environ(work))
    holds_contract(r, "KEYSTONE", PASSWORD)


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_as_a_sites_file(work: Path, content: bytes) -> None:
    path = work / "raw.yaml"
    path.write_bytes(content)
    r = run(["keystone", "--sites", str(path), "--site", "S"], environ(work))
    operator_mistake(r, "KEYSTONE", "sites file")


def egi_doc(port: int) -> dict[str, Any]:
    return {"gocdb": "SITE-X", "endpoint": f"http://127.0.0.1:{port}/v3",
            "region": "RegionOne", "vos": [{"name": "vo.example", "auth":
                                            {"project_id": "p1"}}]}


@given(st.data())
def test_a_mutated_egi_site_file(port: int, work: Path, data: st.DataObject) -> None:
    where, doc = data.draw(mutations(egi_doc(port)))
    path = write_yaml(work / "egi.yaml", doc)
    env = environ(work, OS_ACCESS_TOKEN=SECRET)
    r = run(["keystone", "--sites", str(path), "--vo", "vo.example", "-t", "5"], env)
    holds_contract(r, "KEYSTONE")
    assert r.code == 3 or tried_the_site(r), (where, r)


@given(st.data())
def test_a_mutated_clouds_yaml(port: int, work: Path, data: st.DataObject) -> None:
    doc = {"clouds": {"c": {"auth_type": "password", "region_name": "R1",
                            "auth": {"auth_url": f"http://127.0.0.1:{port}/v3",
                                     "username": "u", "password": SECRET,
                                     "project_name": "p"}}}}
    where, doc = data.draw(mutations(doc))
    path = write_yaml(work / "clouds.yaml", doc)
    r = run(["api", "--os-cloud", "c", "-t", "5"], environ(work, OS_CLIENT_CONFIG_FILE=str(path)))
    holds_contract(r, "CLOUD_API")
    assert r.code == 3 or tried_the_site(r), (where, r)


# -- command-line arguments ----------------------------------------------------------------------
numbers = (st.floats(allow_nan=True, allow_infinity=True).map(repr)
           | st.integers(-10, 10 ** 6).map(str) | words)
ranges = st.text(alphabet="0123456789:~@.-e ", max_size=8) | words


@st.composite
def arguments(draw: st.DrawFn, port: int, work: Path, command: str) -> list[str]:
    """A plausible command line with some options drawn from what an operator might type."""
    argv = [command, "-H", f"http://127.0.0.1:{port}/v3", "--os-username", "u",
            "--os-project-name", "p", "--os-password-file", str(work / "pw"), "-t", "5"]
    if command == "vm":
        argv += ["--image-name", "cirros"]
    options: dict[str, st.SearchStrategy[str]] = {
        "-t": numbers, "-w": ranges, "-c": ranges, "-H": urls(port), "--cacert": paths(work),
        "--os-password-file": paths(work), "--os-auth-type": words, "--os-interface": words,
        "--os-region-name": words, "--os-project-id": words}
    if command == "vm":
        options.update({"--port": numbers, "--monitoring-host": st.text(max_size=300),
                        "--warn-phase": words, "--crit-phase": ranges.map(lambda r: f"boot={r}"),
                        "--json": paths(work), "--textfile": paths(work),
                        "--pushgateway": urls(port, names=False), "--sweep-max-age": numbers,
                        "--mjf-keys": words, "--ipv6": words, "--image-property": words,
                        "--state-dir": paths(work)})
    if command == "keystone":
        options.update({"--service": words, "--token-warning": numbers})
    for flag in draw(st.lists(st.sampled_from(sorted(options)), max_size=3, unique=True)):
        argv += [flag, draw(options[flag])]
    if draw(st.booleans()):
        argv.append(draw(st.sampled_from(["-v", "-vvv", "--insecure", "--allow-http", "--icmp",
                                          "--bogus", "extra"])))
    return argv


@pytest.mark.parametrize("command,plugin", [("keystone", "KEYSTONE"), ("api", "CLOUD_API"),
                                            ("vm", "FEDCLOUD_VM")])
@given(data=st.data())
def test_fuzzed_command_lines(port: int, work: Path, command: str, plugin: str,
                              data: st.DataObject) -> None:
    argv = data.draw(arguments(port, work, command))
    r = run(argv, environ(work))
    holds_contract(r, plugin, PASSWORD)
    assert r.code == 3 or tried_the_site(r), (argv, r)


@given(st.data())
def test_fuzzed_token_plugin_arguments(work: Path, data: st.DataObject) -> None:
    argv = ["token", "--file", data.draw(paths(work))]
    for flag, strategy in data.draw(st.lists(st.sampled_from([
            ("-t", numbers), ("-w", ranges), ("-c", ranges),
            ("--token-endpoint", urls(1)), ("--cacert", paths(work)),
            ("--refresh-token-file", paths(work))]), max_size=3, unique_by=lambda x: x[0])):
        argv += [flag, data.draw(strategy)]
    r = run(argv, environ(work))
    holds_contract(r, "OIDC_TOKEN", PASSWORD)


# -- credential files ------------------------------------------------------------------------------
def _jwt(claims: Any) -> str:
    def part(obj: Any) -> str:
        raw = json.dumps(obj, allow_nan=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


@given(st.one_of(values.map(_jwt), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                 st.dictionaries(st.sampled_from(["exp", "iat", "sub"]), values).map(_jwt)))
def test_any_token_file(work: Path, token: str) -> None:
    path = work / "token"
    path.write_text(token, encoding="utf-8")
    r = run(["token", "--file", str(path), "-t", "5"], environ(work))
    holds_contract(r, "OIDC_TOKEN", PASSWORD)
    assert r.code != 3, r  # the token file is what is checked: a bad one is CRITICAL


@pytest.fixture(scope="module")
def proxy_pem(work: Path) -> bytes:
    from tests.pki import make_pki

    return Path(make_pki(work / "pki").proxy("p", hours=24)).read_bytes()


@given(st.data())
def test_a_damaged_proxy_file(work: Path, proxy_pem: bytes, data: st.DataObject) -> None:
    raw = bytearray(proxy_pem)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    path = work / "proxy"
    path.write_bytes(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw))
    os.chmod(path, 0o600)
    r = run(["proxy", "--file", str(path), "-t", "5"], environ(work))
    holds_contract(r, "X509_PROXY")
    assert r.code != 3, r  # the proxy is what is checked: a damaged one is CRITICAL


# -- the exporter's configuration ----------------------------------------------------------------
@given(st.data())
def test_a_mutated_exporter_config(port: int, work: Path, data: st.DataObject) -> None:
    write_yaml(work / "sites.yaml", site_doc(port, work))
    doc = {"listen": ["127.0.0.1:9847", "[::1]:9847"], "sites_file": "sites.yaml",
           "workers": {"vm": 1, "fast": 2}, "history": 5,
           "checks": {"vm": {"interval": 900, "timeout": 300}, "api": {"interval": 60}},
           "sites": {"S": {"keystone": {"services": ["compute"]}}}}
    where, doc = data.draw(mutations(doc))
    path = write_yaml(work / "exporter.yaml", doc)
    try:
        load(path)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"exporter config {path}: ")
        assert PASSWORD not in message
    r = run(["exporter", "--config", str(path), "--check-config"], environ(work))
    assert r.code in (0, 2) and "Traceback" not in r.text and "internal error" not in r.text
    assert PASSWORD not in r.text
    assert len(r.err.splitlines()) <= 1, (where, r)


def test_the_fuzz_targets_start_from_a_good_configuration(port: int, work: Path) -> None:
    """Each fuzzed document, unchanged, is tried (else every mutation would be UNKNOWN anyway
    and the fuzz would test nothing)."""
    sites = write_yaml(work / "sites.yaml", site_doc(port, work))
    assert tried_the_site(run(["keystone", "--sites", str(sites), "--site", "S"],
                              environ(work)))
    egi = write_yaml(work / "egi.yaml", egi_doc(port))
    assert tried_the_site(run(["keystone", "--sites", str(egi), "--vo", "vo.example"],
                              environ(work, OS_ACCESS_TOKEN=SECRET)))
    assert yaml.safe_load(sites.read_text())["sites"]["S"]["port"] == 22
