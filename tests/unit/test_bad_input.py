"""Each kind of bad operator input named in issue 17, once, by name: UNKNOWN (3) with one line
saying what was wrong — not CRITICAL blaming the site, not "internal error", not a hang — and no
secret in it. (tests/fuzz keeps it so for inputs nobody thought of.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from exporters.config import ConfigError, load
from probes.config import yamlfile
from tests.fuzz.harness import SECRET, Run, closed_port, environ, holds_contract, run

PASSWORD = "Canary-Password-9e1b"


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from closed_port()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "home").mkdir()
    return tmp_path


def base(port: int, work: Path, command: str = "vm") -> list[str]:
    argv = [command, "-H", f"http://127.0.0.1:{port}/v3", "--os-username", "u",
            "--os-project-name", "p", "--os-password-file", str(work / "pw"), "-t", "5"]
    return [*argv, "--image-name", "cirros"] if command == "vm" else argv


def sites_file(work: Path, cloud: int, text: str | None = None, **site: object) -> Path:
    path = work / "sites.yaml"
    if text is None:
        entry = {"auth": {"auth_url": f"http://127.0.0.1:{cloud}/v3", "username": "u",
                          "password_file": str(work / "pw"), "project_name": "p"},
                 "image": {"name": "cirros"}, **site}
        text = yaml.safe_dump({"sites": {"S": entry}})
    path.write_text(text)
    return path


def unknown(r: Run, plugin: str, needle: str) -> None:
    holds_contract(r, plugin, PASSWORD)
    assert r.code == 3 and needle in r.out, r
    assert "cannot connect" not in r.out  # found before anything was sent


# -- exit 2 where 3 is due -----------------------------------------------------------------------
@pytest.mark.parametrize("url,needle", [
    ("ftp://127.0.0.1/v3", "not an http or https URL"),
    ("http://127.0.0.1:abc/v3", "Port could not be cast to integer"),
    ("http://127.0.0.1:99999/v3", "Port out of range"),
    ("http://[::1/v3", "Invalid IPv6 URL"),
    ("http://keystone.example.org/v3", "plain http to a non-loopback host"),
])
def test_an_unusable_auth_url(port: int, work: Path, url: str, needle: str) -> None:
    for command, plugin in (("vm", "FEDCLOUD_VM"), ("keystone", "KEYSTONE"),
                            ("api", "CLOUD_API")):
        argv = base(port, work, command)
        argv[2] = url
        unknown(run(argv, environ(work)), plugin, needle)


def test_a_scheme_less_auth_url(port: int, work: Path) -> None:
    path = sites_file(work, port)
    path.write_text(path.read_text().replace("http://", ""))
    unknown(run(["vm", "--sites", str(path), "--site", "S"], environ(work)), "FEDCLOUD_VM",
            "no scheme (write https://HOST/...)")


def test_a_missing_cacert(port: int, work: Path) -> None:
    r = run([*base(port, work), "--cacert", str(work / "no-ca.pem")], environ(work))
    unknown(r, "FEDCLOUD_VM", f"cacert {work / 'no-ca.pem'}: no such file or directory")


def test_monitoring_host_over_255(port: int, work: Path) -> None:
    r = run([*base(port, work), "--monitoring-host", "h" * 256], environ(work))
    unknown(r, "FEDCLOUD_VM", "--monitoring-host: must be 1 to 255 characters")


# -- "internal error" where the cause is known --------------------------------------------------
@pytest.mark.parametrize("text,needle", [
    ("sites: []\n", "sites must be a mapping, not a list"),
    ("sites:\n  S:\n    auth: 5\n", "auth must be a mapping, not a number"),
    ("defaults: [1]\nsites:\n  S: {}\n", "defaults must be a mapping, not a list"),
    ("sites:\n  S: [1]\n", "sites.S must be a mapping, not a list"),
    ("- a\n- b\n", "the top level must be a mapping, not a list"),
    ("gocdb: X\nendpoint: http://127.0.0.1:1/v3\nvos: 5\n", "vos must be a list of VOs"),
    ("gocdb: X\nendpoint: http://127.0.0.1:1/v3\nvos: [a]\n", "vos[0] must be a mapping"),
    ("gocdb: [X]\nendpoint: http://127.0.0.1:1/v3\n", "gocdb must be text, not a list"),
])
def test_a_sites_file_of_the_wrong_shape(port: int, work: Path, text: str, needle: str) -> None:
    path = sites_file(work, port, text)
    r = run(["vm", "--sites", str(path), "--site", "S", "--vo", "v"], environ(work))
    unknown(r, "FEDCLOUD_VM", needle)


def test_a_non_utf8_sites_file(port: int, work: Path) -> None:
    path = work / "sites.yaml"
    path.write_bytes(b"sites:\n  S: {region: \xff}\n")
    unknown(run(["vm", "--sites", str(path), "--site", "S"], environ(work)), "FEDCLOUD_VM",
            "not UTF-8 text")


def test_a_list_as_clouds_yaml(port: int, work: Path) -> None:
    clouds = work / "clouds.yaml"
    clouds.write_text("- a\n- b\n")
    r = run(["api", "--os-cloud", "a"], environ(work, OS_CLIENT_CONFIG_FILE=str(clouds)))
    unknown(r, "CLOUD_API", "clouds.yaml")
    assert "the top level must be a mapping" in r.out


def test_vm_checks_its_ranges_before_any_cloud(port: int, work: Path) -> None:
    for flags in (["-w", "abc"], ["-c", "1:0"], ["--warn-phase", "boot=x"]):
        r = run([*base(port, work), *flags], environ(work))
        unknown(r, "FEDCLOUD_VM", "invalid")


def test_a_broken_pushgateway_url_is_refused_before_the_run(port: int, work: Path) -> None:
    r = run([*base(port, work), "--pushgateway", "http://[::1"], environ(work))
    unknown(r, "FEDCLOUD_VM", "--pushgateway 'http://[::1': not a URL (Invalid IPv6 URL)")


@pytest.mark.parametrize("exp", ["NaN", "Infinity", "-Infinity", "1e999", "\"soon\"", "true"])
def test_a_token_exp_that_is_no_time(work: Path, exp: str) -> None:
    import base64

    claims = base64.urlsafe_b64encode(f'{{"exp": {exp}}}'.encode()).decode().rstrip("=")
    token = work / "token"
    token.write_text(f"eyJhbGciOiJub25lIn0.{claims}.sig\n")
    r = run(["token", "--file", str(token)], environ(work))
    holds_contract(r, "OIDC_TOKEN")  # the token is what is checked: CRITICAL, said why
    assert r.code == 2 and "the access token has no numeric exp claim" in r.out


# -- unbounded reading ---------------------------------------------------------------------------
@pytest.mark.timeout(20)  # before, 36-51 s (a repr() of the whole expanded value)
def test_a_yaml_alias_bomb_is_refused_at_once(port: int, work: Path) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    path = sites_file(work, port, "\n".join(lines) + "\nsites:\n  S: {region: *a8}\n")
    assert len(path.read_bytes()) < 600
    r = run(["vm", "--sites", str(path), "--site", "S", "-t", "5"], environ(work))
    unknown(r, "FEDCLOUD_VM", f"its aliases expand to more than {yamlfile.MAX_NODES} values")


def test_a_recursive_alias_is_refused(port: int, work: Path) -> None:
    path = sites_file(work, port, "sites: &s\n  S: {region: *s}\n")
    unknown(run(["vm", "--sites", str(path), "--site", "S"], environ(work)), "FEDCLOUD_VM",
            "recursive YAML")


def test_plain_anchors_still_work(port: int, work: Path) -> None:
    auth = {"auth_url": f"http://127.0.0.1:{port}/v3", "username": "u",
            "password_file": str(work / "pw"), "project_name": "p"}
    text = ("common: &auth " + yaml.safe_dump(auth, default_flow_style=True)
            + "sites:\n  S: {auth: *auth, image: {name: c}}\n")
    path = sites_file(work, port, text.replace("common:", "defaults:\n  region: R\n_x:", 1))
    r = run(["keystone", "--sites", str(path), "--site", "S"], environ(work))
    assert "unknown top-level key '_x'" in r.out  # only defaults and sites at the top
    path = sites_file(work, port, "defaults:\n  auth: &auth "
                      + yaml.safe_dump(auth, default_flow_style=True)
                      + "sites:\n  S: {auth: *auth, image: {name: c}}\n")
    r = run(["keystone", "--sites", str(path), "--site", "S"], environ(work))
    assert r.code == 2 and "cannot connect" in r.out, r  # read, merged, tried


@pytest.mark.timeout(20)  # a FIFO read would wait forever for a writer
def test_fifos_and_devices_are_refused_not_read(port: int, work: Path) -> None:
    fifo = work / "fifo"
    os.mkfifo(fifo)
    cases = [(["vm", "--sites", str(fifo), "--site", "S"], "FEDCLOUD_VM", "is a FIFO"),
             (["vm", "--sites", "/dev/zero", "--site", "S"], "FEDCLOUD_VM",
              "is a character device"),
             (["token", "--file", str(fifo)], "OIDC_TOKEN", "is a FIFO"),
             (["token", "--file", "/dev/zero"], "OIDC_TOKEN", "is a character device"),
             (["proxy", "--file", str(fifo)], "X509_PROXY", "is a FIFO"),
             (["proxy", "--file", "/dev/zero"], "X509_PROXY", "is a character device"),
             ([*base(port, work), "--cacert", str(fifo)], "FEDCLOUD_VM", "is a FIFO"),
             ([*base(port, work)[:8], str(fifo), *base(port, work)[9:]], "FEDCLOUD_VM",
              "the file it names: is a FIFO")]
    for argv, plugin, needle in cases:
        unknown(run(argv, environ(work)), plugin, needle)


def test_size_caps(port: int, work: Path) -> None:
    big = sites_file(work, port, "# " + "x" * (1024 * 1024) + "\n")
    unknown(run(["vm", "--sites", str(big), "--site", "S"], environ(work)), "FEDCLOUD_VM",
            "larger than 1 MiB")
    token = work / "token"
    token.write_text("x" * (64 * 1024 + 1))
    unknown(run(["token", "--file", str(token)], environ(work)), "OIDC_TOKEN",
            "larger than 64 KiB")
    pw = work / "big-pw"
    pw.write_text("x" * (64 * 1024 + 1))
    argv = base(port, work)
    argv[argv.index("--os-password-file") + 1] = str(pw)
    unknown(run(argv, environ(work)), "FEDCLOUD_VM", "the file it names: larger than 64 KiB")


# -- silently accepted before --------------------------------------------------------------------
def test_a_misspelt_top_level_key(port: int, work: Path) -> None:
    path = sites_file(work, port)
    path.write_text(path.read_text().replace("sites:", "defualts: {region: R}\nsites:", 1))
    unknown(run(["vm", "--sites", str(path), "--site", "S"], environ(work)), "FEDCLOUD_VM",
            "unknown top-level key 'defualts'")


@pytest.mark.parametrize("key,value,needle", [
    ("port", True, "site port value True: Input should be a valid integer"),
    ("port", "22", "site port value '22': Input should be a valid integer"),
    ("insecure", "no", "site insecure value 'no': Input should be a valid boolean"),
    ("region", 5, "site region value 5: Input should be a valid string"),
])
def test_yaml_values_have_strict_types(port: int, work: Path, key: str, value: object,
                                       needle: str) -> None:
    path = sites_file(work, port, **{key: value})
    unknown(run(["vm", "--sites", str(path), "--site", "S"], environ(work)), "FEDCLOUD_VM",
            needle)


def test_os_variables_are_strings_and_still_work(port: int, work: Path) -> None:
    env = environ(work, OS_AUTH_URL=f"http://127.0.0.1:{port}/v3", OS_USERNAME="u",
                  OS_PASSWORD=SECRET, OS_PROJECT_NAME="p", OS_REGION_NAME="R1")
    r = run(["keystone"], env)
    holds_contract(r, "KEYSTONE")
    assert r.code == 2 and "cannot connect" in r.out


@pytest.mark.parametrize("flags,needle", [
    (["--service", ""], "--service '': give a service type"),
    (["--token-warning", "nan"], "--token-warning nan: must be a number of seconds"),
    (["--token-warning", "-1"], "--token-warning -1: must be a number of seconds"),
])
def test_keystone_options(port: int, work: Path, flags: list[str], needle: str) -> None:
    unknown(run([*base(port, work, "keystone"), *flags], environ(work)), "KEYSTONE", needle)


@pytest.mark.parametrize("listen", ["[::1", "[::1]", "[127.0.0.1]:80", "::1:80", "a b:80",
                                    "[::1]:x"])
def test_exporter_listen_addresses(port: int, work: Path, listen: str) -> None:
    sites_file(work, port)
    config = work / "exporter.yaml"
    config.write_text(yaml.safe_dump({"listen": [listen], "sites_file": "sites.yaml"}))
    with pytest.raises(ConfigError, match="expected HOST:PORT or"):
        load(config)


def test_exporter_values_have_strict_types(port: int, work: Path) -> None:
    sites_file(work, port)
    config = work / "exporter.yaml"
    config.write_text("sites_file: sites.yaml\nhistory: '5'\n")
    with pytest.raises(ConfigError, match="history value '5': Input should be a valid integer"):
        load(config)


# -- secrets echoed when put in the wrong place -----------------------------------------------
def test_a_secret_as_the_value_of_a_file_key(port: int, work: Path) -> None:
    path = sites_file(work, port)
    path.write_text(path.read_text().replace(str(work / "pw"), SECRET))
    r = run(["vm", "--sites", str(path), "--site", "S"], environ(work))
    unknown(r, "FEDCLOUD_VM", "auth.password_file: the file it names: no such file")
    assert SECRET not in r.out


@pytest.mark.parametrize("key", ["pasword", "secret", "Password", "password_flie"])
def test_a_secret_under_a_misspelt_auth_key(port: int, work: Path, key: str) -> None:
    path = sites_file(work, port)
    path.write_text(path.read_text().replace("username: u", f"username: u\n      {key}: "
                                                            f"{SECRET}"))
    r = run(["vm", "--sites", str(path), "--site", "S"], environ(work))
    unknown(r, "FEDCLOUD_VM", f"site auth.{key}: Extra inputs are not permitted")
    assert SECRET not in r.out


def test_credentials_in_an_auth_url(port: int, work: Path) -> None:
    argv = base(port, work, "keystone")
    argv[2] = f"http://admin:{SECRET}@127.0.0.1:{port}/v3"
    r = run(argv, environ(work))
    unknown(r, "KEYSTONE", "holds a user name or password (user:password@)")
    assert "http://<redacted>@127.0.0.1" in r.out and SECRET not in r.out


def test_a_key_with_a_newline_stays_on_one_line(port: int, work: Path) -> None:
    path = sites_file(work, port, **{"a\nb\rc": 1})
    r = run(["vm", "--sites", str(path), "--site", "S"], environ(work))
    assert len(r.out.splitlines()) == 1 and "a\\nb\\rc" in r.out, r


# -- --json ---------------------------------------------------------------------------------------
def test_json_to_a_directory_is_refused_before_the_run(port: int, work: Path) -> None:
    (work / "out").mkdir()
    r = run([*base(port, work), "--json", str(work / "out")], environ(work))
    unknown(r, "FEDCLOUD_VM", f"--json {work / 'out'}: is a directory")
    r = run([*base(port, work), "--json", str(work / "nowhere" / "r.json")], environ(work))
    unknown(r, "FEDCLOUD_VM", "its directory does not exist")
    assert sorted(p.name for p in work.iterdir()) == ["home", "out", "pw"]


@pytest.mark.parametrize("flag", ["--json", "--textfile", "--state-dir", "--sites"])
def test_an_empty_path_is_refused_not_taken_for_the_current_directory(
        port: int, work: Path, monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    monkeypatch.chdir(work)  # were "" taken for ".", the run would write here
    r = run([*base(port, work), flag, ""], environ(work))
    unknown(r, "FEDCLOUD_VM", f"{flag}: empty: give a path")
    assert sorted(p.name for p in work.iterdir()) == ["home", "pw"]


def test_json_never_replaces_a_device(port: int, work: Path) -> None:
    from tests.fuzz.harness import devices

    zero, null = devices(work)
    for node in (zero, null):
        r = run([*base(port, work), "--json", node], environ(work))
        unknown(r, "FEDCLOUD_VM", f"--json {node}: is not a regular file")
        assert Path(node).is_char_device()


def test_an_atomic_write_replaces_only_a_regular_file(work: Path) -> None:
    from probes.report.atomic import atomic_write
    from tests.fuzz.harness import devices

    fifo = work / "fifo"
    os.mkfifo(fifo)
    for target in (*devices(work), str(fifo)):
        with pytest.raises(OSError, match="not a regular file"):
            atomic_write(Path(target), "x")
    link = work / "link"
    link.symlink_to(work / "pw")
    atomic_write(link, "new")  # a link to a file: replaced as before
    assert link.read_text() == "new"
    assert not [p for p in work.iterdir() if p.name.startswith(".fedprobe-")]


def test_json_leaves_no_temporary_file(port: int, work: Path) -> None:
    out = work / "out"
    out.mkdir()
    for _ in range(3):
        r = run([*base(port, work), "--json", str(out / "r.json")], environ(work))
        assert r.code == 2 and "cannot connect" in r.out
    assert [p.name for p in out.iterdir()] == ["r.json"]
