"""The real OpenStack Keystone (PyPI, installed by `make test` into .venv-keystone): sqlite,
fernet tokens, bootstrap, served by gunicorn on loopback — set up and torn down by the tests.

With `tls`, gunicorn serves HTTPS and asks for an optional client certificate (RFC 3820 proxies
allowed, verified against a hashed CA directory); tests/keystone_front.py then stands where
Apache's mod_ssl and mod_auth_openidc stand at a federated site (`federate` configures the
identity providers, mappings and protocols behind them)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.guards.session import pythonpath

_APP = """import sys
sys.argv = sys.argv[:1]  # keystone's config library parses argv: gunicorn's would kill it
from keystone.wsgi.api import application as keystone  # noqa: E402
from keystone_front import Front  # noqa: E402
application = Front.from_environment(keystone)
"""

_GUNICORN_TLS = """import ssl
certfile, keyfile = {cert!r}, {key!r}
cert_reqs = ssl.CERT_OPTIONAL


def ssl_context(conf, default_ssl_context_factory):
    ctx = default_ssl_context_factory()
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS
    ctx.load_verify_locations(capath={cadir!r})
    return ctx
"""


@dataclass(frozen=True)
class Tls:
    """HTTPS for Keystone: its certificate, the CA clients verify it with, and the hashed
    directory of CAs whose client certificates (and proxies) it accepts."""
    server_cert: Path
    server_key: Path
    ca_file: Path
    client_ca_dir: Path


@dataclass(frozen=True)
class Oidc:
    """The OIDC identity provider the front trusts: its id in Keystone, the protocol, the
    issuer URL and the PEM public key file tokens are verified with."""
    idp: str
    protocol: str
    issuer: str
    key_file: Path


@dataclass
class Keystone:
    url: str
    admin_password: str
    process: subprocess.Popen[bytes]
    verify: bool | str = True

    def stop(self) -> None:
        """Terminate gunicorn and its worker."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def venv() -> Path:
    """Where `make test` installed Keystone (a clear failure when it did not)."""
    path = Path(os.environ.get("FEDPROBE_KEYSTONE_VENV", ".venv-keystone"))
    if not (path / "bin" / "keystone-manage").exists():
        raise RuntimeError(f"Keystone is not installed in {path}: run `make test` (it installs "
                           "dev/keystone-requirements.txt there)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(root: Path, admin_password: str, tls: Tls | None = None,
          oidc: Oidc | None = None) -> Keystone:
    """Configure, bootstrap and serve a Keystone under root; return once it answers."""
    bin_dir = venv() / "bin"
    port = _free_port()
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/v3"
    for d in ("fernet", "cred"):
        (root / d).mkdir(parents=True, exist_ok=True)
    conf = root / "keystone.conf"
    conf.write_text(f"[database]\nconnection = sqlite:///{root}/keystone.db\n"
                    f"[token]\nprovider = fernet\n"
                    f"[fernet_tokens]\nkey_repository = {root}/fernet\n"
                    f"[credential]\nkey_repository = {root}/cred\n"
                    "[identity]\npassword_hash_rounds = 4\n"
                    # the federation protocols are auth methods of the same names
                    "[auth]\nmethods = password,token,application_credential,mapped,openid\n")
    manage = [str(bin_dir / "keystone-manage"), "--config-file", str(conf)]
    user = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    for step in (["fernet_setup", *user], ["credential_setup", *user], ["db_sync"],
                 ["bootstrap", "--bootstrap-password", admin_password,
                  "--bootstrap-region-id", "RegionOne", "--bootstrap-public-url", url]):
        subprocess.run([*manage, *step], check=True, capture_output=True, timeout=120)
    (root / "ksapp.py").write_text(_APP)
    (root / "keystone_front.py").write_text((Path(__file__).parent / "keystone_front.py")
                                            .read_text())
    env = {**os.environ, "OS_KEYSTONE_CONFIG_DIR": str(root), "PYTHONPATH": pythonpath(root)}
    if oidc:
        env.update(FRONT_OIDC_IDP=oidc.idp, FRONT_OIDC_PROTOCOL=oidc.protocol,
                   FRONT_OIDC_ISSUER=oidc.issuer, FRONT_OIDC_KEY=str(oidc.key_file))
    cmd = [str(bin_dir / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "1"]
    verify: bool | str = True
    if tls:
        (root / "gunicorn_tls.py").write_text(_GUNICORN_TLS.format(
            cert=str(tls.server_cert), key=str(tls.server_key), cadir=str(tls.client_ca_dir)))
        cmd += ["-c", str(root / "gunicorn_tls.py")]
        verify = str(tls.ca_file)
    log = (root / "gunicorn.log").open("wb")
    proc = subprocess.Popen([*cmd, "ksapp:application"], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2, verify=verify).status_code == 200:
                return Keystone(url, admin_password, proc, verify)
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"Keystone did not start: see {root / 'gunicorn.log'}")
