"""The real OpenStack Keystone (PyPI, installed by `make test` into .venv-keystone): sqlite,
fernet tokens, bootstrap, served by gunicorn on loopback — set up and torn down by the tests."""

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
from keystone.wsgi.api import application  # noqa: E402,F401
"""


@dataclass
class Keystone:
    url: str
    admin_password: str
    process: subprocess.Popen[bytes]

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


def start(root: Path, admin_password: str) -> Keystone:
    """Configure, bootstrap and serve a Keystone under root; return once it answers."""
    bin_dir = venv() / "bin"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v3"
    for d in ("fernet", "cred"):
        (root / d).mkdir(parents=True, exist_ok=True)
    conf = root / "keystone.conf"
    conf.write_text(f"[database]\nconnection = sqlite:///{root}/keystone.db\n"
                    f"[token]\nprovider = fernet\n"
                    f"[fernet_tokens]\nkey_repository = {root}/fernet\n"
                    f"[credential]\nkey_repository = {root}/cred\n"
                    "[identity]\npassword_hash_rounds = 4\n")
    manage = [str(bin_dir / "keystone-manage"), "--config-file", str(conf)]
    user = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    for step in (["fernet_setup", *user], ["credential_setup", *user], ["db_sync"],
                 ["bootstrap", "--bootstrap-password", admin_password,
                  "--bootstrap-region-id", "RegionOne", "--bootstrap-public-url", url]):
        subprocess.run([*manage, *step], check=True, capture_output=True, timeout=120)
    (root / "ksapp.py").write_text(_APP)
    env = {**os.environ, "OS_KEYSTONE_CONFIG_DIR": str(root), "PYTHONPATH": pythonpath(root)}
    log = (root / "gunicorn.log").open("wb")
    proc = subprocess.Popen([str(bin_dir / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "1",
                             "ksapp:application"], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return Keystone(url, admin_password, proc)
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"Keystone did not start: see {root / 'gunicorn.log'}")
