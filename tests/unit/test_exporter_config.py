"""The exporter's config: defaults merged with per-site overrides, everything it names read and
validated at load, and every refusal one line naming the file, key and (safe) value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporters.config import ConfigError, load, options_for, parse_listen

CANARY = "canary-Zx81-pw"
AUTH = {"type": "password", "auth_url": "https://keystone.example.org:5000/v3",
        "username": "u", "project_name": "p"}


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "pw"
    path.parent.mkdir()
    path.write_text(f"{CANARY}\n")
    return path


@pytest.fixture
def sites(tmp_path: Path, secret: Path) -> Path:
    """A probes sites file with two sites, passwords in a secret file."""
    return write_sites(tmp_path, {
        "A": {"auth": {**AUTH, "password_file": str(secret)}, "region": "R1"},
        "B": {"auth": {**AUTH, "auth_url": "https://k.b.example.org/v3",
                       "password_file": str(secret)}},
    })


def write_sites(tmp_path: Path, sites: dict[str, object]) -> Path:
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"image": {"name": "cirros"}}, "sites": sites}))
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    return path


def refused(path: Path) -> str:
    """The one-line message load() refuses the config with."""
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"exporter config {path}: ")
    assert CANARY not in message
    return message


def test_defaults_and_site_overrides_merge(tmp_path: Path, sites: Path) -> None:
    config = load(write(tmp_path, """
sites_file: sites.yaml
checks:
  keystone: {interval: 30, services: [compute]}
  api: {enabled: false}
sites:
  A:
    keystone: {timeout: 5}
    api: {enabled: true, interval: 45}
  B:
    vm: {enabled: false}
"""))
    jobs = {(j.site, j.check): j.options for j in config.jobs}
    assert set(jobs) == {("A", "vm"), ("A", "keystone"), ("A", "api"), ("B", "keystone")}
    assert (jobs["A", "vm"].interval, jobs["A", "vm"].timeout) == (900.0, 600.0)
    assert (jobs["A", "keystone"].interval, jobs["A", "keystone"].timeout) == (30.0, 5.0)
    assert jobs["A", "keystone"].services == ("compute",)
    assert (jobs["B", "keystone"].interval, jobs["B", "keystone"].timeout) == (30.0, 30.0)
    assert (jobs["A", "api"].interval, jobs["A", "api"].timeout) == (45.0, 30.0)
    assert {j.key: j.pool for j in config.jobs if j.site == "A"} == {
        ("A", "vm"): "vm", ("A", "keystone"): "fast", ("A", "api"): "fast"}
    assert config.sites_path == sites and set(config.sites) == {"A", "B"}
    # /probe asks for checks that are not scheduled: they get the same merged options
    unscheduled = options_for(config, "B", "api")
    assert (unscheduled.enabled, unscheduled.interval) == (False, 120.0)


def test_every_site_of_the_sites_file_by_default(tmp_path: Path, sites: Path) -> None:
    config = load(write(tmp_path, "sites_file: sites.yaml\n"))
    assert sorted(j.key for j in config.jobs) == [
        ("A", "api"), ("A", "keystone"), ("A", "vm"), ("B", "api"), ("B", "keystone"),
        ("B", "vm")]  # proxy and token are off unless enabled
    assert config.file.listen == ("127.0.0.1:9847",)


@pytest.mark.parametrize("text,key", [
    ("sites_file: sites.yaml\nbogus: 1\n", "bogus"),
    ("sites_file: sites.yaml\nchecks: {vm: {intervall: 60}}\n", "intervall"),
    ("sites_file: sites.yaml\nchecks: {ping: {}}\n", "checks.ping"),
    ("sites_file: sites.yaml\nsites: {A: {ping: {}}}\n", "sites.A.ping"),
    ("sites_file: sites.yaml\nworkers: {gpu: 2}\n", "workers.gpu"),
])
def test_unknown_keys_are_refused(tmp_path: Path, sites: Path, text: str, key: str) -> None:
    message = refused(write(tmp_path, text))
    assert key in message and "Extra inputs are not permitted" in message


@pytest.mark.parametrize("checks,needle", [
    ("{keystone: {interval: 0}}", "site A check keystone interval value 0:"),
    ("{keystone: {interval: -5}}", "site A check keystone interval value -5:"),
    ("{vm: {timeout: 0}}", "site A check vm timeout value 0:"),
    ("{api: {interval: soon}}", "site A check api interval value 'soon':"),
])
def test_bad_values_name_site_check_key_and_value(tmp_path: Path, sites: Path, checks: str,
                                                 needle: str) -> None:
    message = refused(write(tmp_path, f"sites_file: sites.yaml\nsites: {{A: {checks}}}\n"))
    assert needle in message


def test_a_bad_default_is_blamed_on_the_defaults_not_a_site(tmp_path: Path,
                                                            sites: Path) -> None:
    message = refused(write(tmp_path, "sites_file: sites.yaml\nchecks: {api: {interval: 0}}\n"))
    assert "exporter config" in message and ": checks.api interval value 0: " in message
    assert "site A" not in message


def test_site_not_in_the_sites_file(tmp_path: Path, sites: Path) -> None:
    message = refused(write(tmp_path, "sites_file: sites.yaml\nsites: {A: , Z: }\n"))
    assert f"sites.Z: no such site in {sites} (has: A, B)" in message


@pytest.mark.parametrize("check", ["proxy", "token"])
def test_credential_checks_need_a_file(tmp_path: Path, sites: Path, check: str) -> None:
    message = refused(write(tmp_path, f"sites_file: sites.yaml\n"
                                      f"checks: {{{check}: {{enabled: true}}}}\n"))
    assert f"site A check {check}: needs file" in message


def test_proxy_check_may_use_the_sites_x509_proxy(tmp_path: Path) -> None:
    write_sites(tmp_path, {"G": {"auth": {**AUTH, "type": "x509_voms_v2",
                                          "x509_proxy": "/tmp/x509up_u1000"}}})
    config = load(write(tmp_path, "sites_file: sites.yaml\nchecks: {proxy: {enabled: true}}\n"))
    proxy = next(j for j in config.jobs if j.check == "proxy")
    assert proxy.options.file is None and proxy.options.warning == 43200.0


@pytest.mark.parametrize("listen", ["localhost", "host:99999", ":9847", "[::1]", "h:port"])
def test_bad_listen(tmp_path: Path, sites: Path, listen: str) -> None:
    message = refused(write(tmp_path, f"sites_file: sites.yaml\nlisten: ['{listen}']\n"))
    assert f"listen value {listen!r}: expected HOST:PORT or [V6]:PORT" in message


@pytest.mark.parametrize("url", ["ftp://x", "monitor:9847", "http://h/a b"])
def test_a_bad_report_url_is_named(tmp_path: Path, sites: Path, url: str) -> None:
    message = refused(write(tmp_path, f"sites_file: sites.yaml\nreport_url: '{url}'\n"))
    assert f"report_url {url!r}: expected http://HOST[:PORT][/PATH]" in message


def test_listen_forms() -> None:
    assert parse_listen("127.0.0.1:9847") == ("127.0.0.1", 9847)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen("monitor.example.org:80") == ("monitor.example.org", 80)


def test_yaml_syntax_error_names_the_line(tmp_path: Path, sites: Path) -> None:
    message = refused(write(tmp_path, "sites_file: sites.yaml\nchecks:\n  vm:\n"
                                      "    interval: 60\n   timeout: 5\n"))
    assert message.endswith("not valid YAML at line 5, column 4: expected <block end>, but "
                            "found '<block mapping start>'"), message


def test_sites_file_yaml_errors_name_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "sites.yaml").write_text("sites:\n  A:\n    auth: {type: token\n    image: x\n")
    message = refused(write(tmp_path, "sites_file: sites.yaml\n"))
    assert f"sites file {tmp_path / 'sites.yaml'}: not valid YAML at line 4, column 10: " \
        "expected ',' or '}', but got ':'" in message


def test_missing_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert refused(missing).endswith(f"{missing}: no such file")
    message = refused(write(tmp_path, "sites_file: missing-sites.yaml\n"))
    assert f"sites file {tmp_path / 'missing-sites.yaml'}: no such file" in message
    assert "sites_file: Field required" in refused(write(tmp_path, "listen: ['[::1]:1']\n"))


def test_secret_files_are_read_at_load_and_again_per_run(tmp_path: Path, sites: Path,
                                                         secret: Path) -> None:
    config = load(write(tmp_path, "sites_file: sites.yaml\n"))
    site = config.site("A", need_image=True)
    assert site.auth.password == CANARY and site.region == "R1"
    assert CANARY not in repr(site) and CANARY not in str(config.sites)
    secret.write_text("rotated\n")
    assert config.site("A", need_image=True).auth.password == "rotated"


def test_missing_secret_file_is_a_clear_error(tmp_path: Path, sites: Path,
                                              secret: Path) -> None:
    secret.unlink()
    message = refused(write(tmp_path, "sites_file: sites.yaml\n"))
    assert f"site A (vm): sites file {sites}: auth.password_file: the file it names: " \
           "no such file" in message
    assert str(secret) not in message  # the value of a *_file key is never shown


@pytest.mark.parametrize("auth", [
    {**AUTH, "password": CANARY, "project_name": None},          # incomplete
    {**AUTH, "password": CANARY, "type": "token"},               # wrong method for it
    {**AUTH, "password": [CANARY]},                              # wrong type
    {**AUTH, "password": CANARY, "auth_url": ["https://k/v3"]},  # another key is wrong
])
def test_messages_never_hold_a_password(tmp_path: Path, auth: dict[str, object]) -> None:
    write_sites(tmp_path, {"A": {"auth": auth}})
    assert "site A (vm)" in refused(write(tmp_path, "sites_file: sites.yaml\n"))


def test_a_misspelled_secret_key_does_not_show_its_value(tmp_path: Path) -> None:
    write_sites(tmp_path, {"A": {"auth": {**AUTH, "pasword": CANARY}}})
    refused(write(tmp_path, "sites_file: sites.yaml\n"))
