"""Building a probe target from its sources: order, formats, secrets files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from probes.config.sources import SiteError, build, from_clouds_yaml, from_env, from_sites_file

AUTH = {"type": "password", "auth_url": "https://keystone.example.org:5000/v3",
        "username": "u", "password": "pw-from-file", "project_name": "p"}
IMAGE = {"image": {"name": "cirros"}}


def test_later_sources_win() -> None:
    site = build([("sites file", {"name": "S", "auth": AUTH, **IMAGE, "port": 22}),
                  ("OS_* environment", {"auth": {"username": "env-user"}, "port": 2222}),
                  ("command line", {"port": 2022})])
    assert site.auth.username == "env-user" and site.port == 2022 and site.name == "S"


def test_env_variables() -> None:
    layer = from_env({"OS_AUTH_URL": "https://k/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
                      "OS_PROJECT_ID": "pid", "OS_REGION_NAME": "R1",
                      "OS_AUTH_TYPE": "v3applicationcredential", "UNRELATED": "x"})
    assert layer["auth"]["type"] == "application_credential"
    assert layer["region"] == "R1" and layer["auth"]["project_id"] == "pid"


def test_clouds_yaml(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"site-a": {
        "auth_type": "v3oidcaccesstoken", "region_name": "R", "verify": False,
        "auth": {"auth_url": "https://k/v3", "identity_provider": "egi.eu",
                 "access_token": "t", "project_id": "p"}}}}))
    layer = from_clouds_yaml("site-a", {"OS_CLIENT_CONFIG_FILE": str(path)})
    assert layer["auth"]["type"] == "oidc_access_token" and layer["insecure"] is True
    with pytest.raises(SiteError, match="no cloud named 'nope' \\(has: site-a\\)"):
        from_clouds_yaml("nope", {"OS_CLIENT_CONFIG_FILE": str(path)})


def test_sites_file_defaults_and_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    path = tmp_path / "sites.yaml"
    auth = {k: v for k, v in AUTH.items() if k != "password"}
    path.write_text(yaml.safe_dump({"defaults": {**IMAGE, "policy": {"ipv6": "required"}},
                                    "sites": {"CESNET": {"auth": {**auth,
                                                                  "password_file": str(secret)},
                                                         "policy": {"mjf": "off"}}}}))
    site = build([("sites file", from_sites_file(path, "CESNET", None))])
    assert site.auth.password == "s3cret"
    assert (site.policy.ipv6, site.policy.mjf) == ("required", "off")
    with pytest.raises(SiteError, match="no site 'X' \\(has: CESNET\\)"):
        from_sites_file(path, "X", None)


def test_egi_catchall_site_format(tmp_path: Path) -> None:
    path = tmp_path / "IFCA-LCG2.yaml"
    path.write_text(yaml.safe_dump({"gocdb": "IFCA-LCG2", "endpoint": "https://k.ifca.es:5000/v3",
                                    "vos": [{"name": "vo.access.egi.eu",
                                             "auth": {"project_id": "abc123"}}]}))
    layer = from_sites_file(path, None, "vo.access.egi.eu")
    site = build([("sites file", layer),
                  ("command line", {**IMAGE, "auth": {"access_token": "tok"}})])
    assert site.name == "IFCA-LCG2" and site.auth.project_id == "abc123"
    assert (site.auth.identity_provider, site.auth.protocol) == ("egi.eu", "openid")
    with pytest.raises(SiteError, match=r"needs --vo, one of: vo\.access\.egi\.eu"):
        from_sites_file(path, None, "other")


@pytest.mark.parametrize("layer,needle", [
    ({**IMAGE}, "no credentials"),
    ({"auth": AUTH}, "no image chosen"),
    ({"auth": {**AUTH, "type": "kerberos"}, **IMAGE}, "site auth.type value 'kerberos'"),
    ({"auth": {**AUTH, "password": None}, **IMAGE}, "needs password"),
    ({"auth": AUTH, "image": {"name": "a", "id": "b"}}, "exactly one of id, name or property"),
    ({"auth": AUTH, **IMAGE, "port": 70000}, "site port value 70000"),
    ({"auth": AUTH, **IMAGE, "policy": {"ipv6": "maybe"}}, "site policy.ipv6 value 'maybe'"),
])
def test_errors_are_one_line(layer: dict[str, object], needle: str) -> None:
    with pytest.raises(SiteError) as info:
        build([("command line", layer)])
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_secrets_never_in_errors() -> None:
    canary = "canary-Zx81"
    with pytest.raises(SiteError) as info:
        build([("x", {"auth": {**AUTH, "password": canary, "type": "token"}, **IMAGE})])
    assert canary not in str(info.value)
    with pytest.raises(SiteError) as info:
        build([("x", {"auth": {**AUTH, "password": ["canary-Zx81"]}, **IMAGE})])
    assert canary not in str(info.value)


def test_shipped_example_sites_file(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "sites.example.yaml"
    data = yaml.safe_load(example.read_text())
    assert set(data["sites"]) == {"CESNET-MCC", "EXAMPLE-APPCRED"}
    # secrets are files that do not exist here: the error names the key, never its value
    with pytest.raises(SiteError, match=r"auth\.refresh_token_file: the file it names: no such"):
        from_sites_file(example, "CESNET-MCC", None)
    text = example.read_text()
    for name in ("egi-refresh-token", "example-appcred-secret"):
        (tmp_path / name).write_text("secret\n")
        text = text.replace(f"/etc/fedprobe/{name}", str(tmp_path / name))
    certificates = tmp_path / "certificates"  # as IGTF's: hashed names
    certificates.mkdir()
    (certificates / "0123abcd.0").write_text("-----BEGIN CERTIFICATE-----\n")
    text = text.replace("/etc/grid-security/certificates", str(certificates))
    copy = tmp_path / "sites.yaml"
    copy.write_text(text)
    cesnet = build([("sites file", from_sites_file(copy, "CESNET-MCC", None))])
    assert cesnet.auth.type == "oidc_refresh_token" and cesnet.policy.ipv6 == "required"
    assert cesnet.image.property == {"ad:appid": "egi.cirros.0.6"}
    other = build([("sites file", from_sites_file(copy, "EXAMPLE-APPCRED", None))])
    assert other.image.name == "cirros-0.6.2-x86_64" and other.policy.ipv6 == "informational"


def test_an_image_choice_replaces_the_earlier_one() -> None:
    site = build([("sites file", {"auth": AUTH, "image": {"property": {"ad:appid": "x"}}}),
                  ("command line", {"image": {"name": "cirros"}})])
    assert site.image.name == "cirros" and site.image.property == {}


def test_relative_secret_file_is_relative_to_the_sites_file(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "pw").write_text("s3cret\n")
    sites = tmp_path / "conf" / "sites.yaml"
    auth = {k: v for k, v in AUTH.items() if k != "password"}
    sites.write_text(yaml.safe_dump({"sites": {"A": {"auth": {**auth, "password_file": "pw"},
                                                     **IMAGE}}}))
    monkeypatch.chdir(tmp_path)  # not where the secret is
    site = build([("sites file", from_sites_file(sites, "A", None))])
    assert site.auth.password == "s3cret"


# -- files that configure the run: UNKNOWN (a SiteError), never an internal error ---------------
def test_files_that_configure_the_run_are_site_errors(tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(SiteError, match=f"sites file {binary}: not UTF-8 text"):
        from_sites_file(binary, "S", None)
    with pytest.raises(SiteError, match=f"clouds.yaml {binary}: not UTF-8 text"):
        from_clouds_yaml("a", {"OS_CLIENT_CONFIG_FILE": str(binary)})
    listed = tmp_path / "clouds.yaml"
    for data, words in (([1, 2], "the top level must be a mapping, not a list"),
                        ({"clouds": ["a"]}, "clouds must be a mapping, not a list"),
                        ({"clouds": {"a": "x"}}, "clouds.a must be a mapping, not text"),
                        ({"clouds": {"a": {"auth": [1]}}},
                         "clouds.a.auth must be a mapping, not a list")):
        listed.write_text(yaml.safe_dump(data))
        with pytest.raises(SiteError, match=words):
            from_clouds_yaml("a", {"OS_CLIENT_CONFIG_FILE": str(listed)})
    sites = tmp_path / "sites.yaml"
    sites.write_text(yaml.safe_dump({"sites": {"S": {**IMAGE, "auth": {
        **{k: v for k, v in AUTH.items() if k != "password"}, "password_file": str(binary)}}}}))
    with pytest.raises(SiteError, match=r"auth\.password_file: the file it names: not UTF-8 "):
        from_sites_file(sites, "S", None)


@pytest.mark.parametrize("make,words", [
    (lambda p: None, "no such file or directory"),
    (lambda p: p.mkdir(), "no hashed CA certificate in the directory"),
    (lambda p: p.write_bytes(b"\x00garbage"), "no PEM certificate in it"),
])
def test_an_unusable_ca_bundle_is_a_site_error(tmp_path: Path, make: object,
                                               words: str) -> None:
    ca = tmp_path / "ca"
    make(ca)  # type: ignore[operator]
    with pytest.raises(SiteError, match=f"site cacert {ca}: {words}"):
        build([("command line", {"name": "S", "auth": AUTH, **IMAGE, "cacert": str(ca)})])
    insecure = build([("command line", {"name": "S", "auth": AUTH, **IMAGE, "cacert": str(ca),
                                        "insecure": True})])
    assert insecure.insecure  # --insecure does not read it
