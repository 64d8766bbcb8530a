"""The site model is per driver: ``driver:`` picks it (``openstack`` when absent), its auth and
target are that driver's own, OpenStack users see the same sites and error lines as before,
and the checks that only an OpenStack site can answer say so in one line for another driver."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from exporters import config as exporter_config
from probes import drivers
from probes.cli.env import Environment
from probes.cli.main import main
from probes.config import site as site_models
from probes.config.site import OpenStackSite, Site, _Model, parse
from probes.config.sources import SiteError, build, from_sites_file
from probes.runner import registry

OPENSTACK_AUTH = {"type": "password", "auth_url": "https://k.example/v3", "username": "u",
                  "password": "pw", "project_name": "p"}


class BoxAuth(_Model):
    endpoint: str
    key: str | None = None


class BoxSite(Site):
    """A cloud of another kind: no Keystone, no region, an endpoint and a key."""

    auth: BoxAuth


class BoxDriver:
    name = "box"
    capabilities = frozenset({"console"})

    def __init__(self, site: Site) -> None:
        self.site = site


@pytest.fixture
def box(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second driver in the registry, with a site model of its own."""
    monkeypatch.setitem(drivers._DRIVERS, "box", (__name__, "BoxDriver"))
    monkeypatch.setitem(site_models._MODELS, "box", BoxSite)


def box_site(**more: Any) -> dict[str, Any]:
    return {"name": "b", "driver": "box", "auth": {"endpoint": "https://box.example",
                                                   "key": "k"},
            "image": {"name": "tiny"}, **more}


def test_no_driver_is_an_openstack_site() -> None:
    for data in ({"name": "s", "auth": OPENSTACK_AUTH},
                 {"name": "s", "driver": "openstack", "auth": OPENSTACK_AUTH}):
        site = parse(data)
        assert type(site) is OpenStackSite and site.driver == "openstack"
        assert site.proxy_file is None and site.ca_bundle is None
    x509 = parse({"name": "s", "cacert": "/ca.pem", "auth": {
        "type": "x509_voms_v2", "auth_url": "https://k/v3", "x509_proxy": "/tmp/x509up_u0",
        "project_id": "p"}})
    assert x509.proxy_file == "/tmp/x509up_u0" and x509.ca_bundle == "/ca.pem"


def test_openstack_error_lines_are_unchanged() -> None:
    with pytest.raises(SiteError) as bad:
        build([("sites file", {"name": "s", "auth": {**OPENSTACK_AUTH, "username": None}})],
              need_image=False)
    assert str(bad.value) == ("site auth: auth type password needs username or user_id "
                              "(from sites file)")
    with pytest.raises(SiteError) as wrong:
        build([("sites file", {"name": "s", "driver": "occi", "auth": OPENSTACK_AUTH})],
              need_image=False)
    assert str(wrong.value) == ("site driver value 'occi': not a known driver "
                                "(available: openstack) (from sites file)")


def test_a_driver_picks_its_own_model(box: None, tmp_path: Path) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text(yaml.safe_dump({"sites": {"b": box_site()}}))
    site = build([("sites file", from_sites_file(sites, "b", None))])
    assert type(site) is BoxSite and site.auth.endpoint == "https://box.example"
    assert parse(site.model_dump()) == site  # the guardian's handoff reads it back
    # OpenStack's target keys are not this driver's: named, in one line
    with pytest.raises(SiteError) as region:
        build([("sites file", box_site(region="R1"))])
    assert str(region.value) == "site region: Extra inputs are not permitted (from sites file)"
    with pytest.raises(ValidationError):
        parse(box_site(auth=OPENSTACK_AUTH))  # Keystone's options are not a box login


@pytest.mark.parametrize("check", ["keystone", "api"])
def test_openstack_checks_refuse_another_driver_in_one_line(box: None, tmp_path: Path,
                                                            check: str) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text(yaml.safe_dump({"sites": {"b": box_site()}}))
    out = io.StringIO()
    status = main([check, "--sites", str(sites), "-H", "b"], Environment(stdout=out))
    plugin = registry.CHECKS[check].plugin
    assert int(status) == 3
    assert out.getvalue() == (f"{plugin} UNKNOWN - the {check} check is for sites of driver "
                              "openstack; site b uses driver box\n")
    # the exporter: not scheduled for such a site by default; asked for by the site, refused
    (tmp_path / "exporter.yaml").write_text(yaml.safe_dump({"sites_file": "sites.yaml"}))
    jobs = exporter_config.load(tmp_path / "exporter.yaml").jobs
    assert [j.check for j in jobs] == ["vm"]
    (tmp_path / "exporter.yaml").write_text(yaml.safe_dump({
        "sites_file": "sites.yaml", "sites": {"b": {check: {"enabled": True}}}}))
    with pytest.raises(exporter_config.ConfigError) as refused:
        exporter_config.load(tmp_path / "exporter.yaml")
    assert str(refused.value).endswith(
        f"site b: the {check} check is for sites of driver openstack; site b uses driver box")
    assert registry.unsupported("vm", build([("f", box_site())])) is None
