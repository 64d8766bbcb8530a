"""The shipped exporter example loads (with the example sites file, its secret files provided)
and says what it promises: defaults, per-site changes, credential checks off."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exporters.config import ConfigError, load

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_example_exporter_config(tmp_path: Path) -> None:
    shutil.copy(CONFIG / "exporter.example.yaml", tmp_path / "exporter.yaml")
    sites = (CONFIG / "sites.example.yaml").read_text()
    # the secret files do not exist here: loading says which one
    (tmp_path / "sites.example.yaml").write_text(sites)
    with pytest.raises(ConfigError, match=r"auth\.refresh_token_file: the file it names: no such"):
        load(tmp_path / "exporter.yaml")
    for name in ("egi-refresh-token", "example-appcred-secret"):
        (tmp_path / name).write_text("secret\n")
        sites = sites.replace(f"/etc/fedprobe/{name}", str(tmp_path / name))
    (tmp_path / "sites.example.yaml").write_text(sites)
    with pytest.raises(ConfigError, match="site cacert /etc/grid-security/certificates: no "):
        load(tmp_path / "exporter.yaml")  # no IGTF CA directory here: loading says so
    certificates = tmp_path / "certificates"
    certificates.mkdir()
    (certificates / "0123abcd.0").write_text("-----BEGIN CERTIFICATE-----\n")
    sites = sites.replace("/etc/grid-security/certificates", str(certificates))
    (tmp_path / "sites.example.yaml").write_text(sites)
    config = load(tmp_path / "exporter.yaml")
    jobs = {(j.site, j.check): j.options for j in config.jobs}
    assert set(jobs) == {("CESNET-MCC", "vm"), ("CESNET-MCC", "keystone"), ("CESNET-MCC", "api"),
                         ("EXAMPLE-APPCRED", "vm"), ("EXAMPLE-APPCRED", "keystone")}
    assert jobs["CESNET-MCC", "vm"].interval == 600
    assert jobs["EXAMPLE-APPCRED", "vm"].interval == 900
    assert jobs["CESNET-MCC", "keystone"].services == ("compute", "image", "network")
    assert config.file.listen == ("127.0.0.1:9847", "[::1]:9847")
    assert (config.file.workers.vm, config.file.workers.fast) == (2, 8)
