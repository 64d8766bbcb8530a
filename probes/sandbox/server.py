"""The sandbox as a running thing: HTTP(S) on 127.0.0.1 and [::1] (same port), the cloud state,
the control token and the files clients need. Usable as a context manager / test fixture and by
the ``fedprobe sandbox`` command."""

from __future__ import annotations

import errno
import json
import logging
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from probes.net import listen
from probes.sandbox import cloudsyaml, sitesyaml
from probes.sandbox.api.app import SandboxApp
from probes.sandbox.api.control import server_summary
from probes.sandbox.catalog import auth_url
from probes.sandbox.cloud import Cloud
from probes.sandbox.config import SandboxConfig
from probes.sandbox.faults import Faults
from probes.sandbox.requestlog import LoggedRequest
from probes.sandbox.tls import TlsFiles, make_ca_and_server

log = logging.getLogger(__name__)


class _Server(wsgi.Server):
    """cheroot's WSGI server (HTTP/1.1 keep-alive, as real clouds behind Apache/haproxy; werkzeug's
    closes every connection) on a socket we bound ourselves, so that a busy port is our clear
    error rather than the server library's."""

    # How often the connection loop wakes up, and so how long stop() takes (cheroot: 0.5 s).
    expiration_interval = 0.1

    def __init__(self, sock: socket.socket, app: SandboxApp,
                 ssl_ctx: ssl.SSLContext | None, cert: tuple[str, str] | None) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__((host, port), app, numthreads=16, server_name="fedprobe-sandbox")
        self._premade = sock
        if ssl_ctx is not None and cert is not None:
            adapter = BuiltinSSLAdapter(*cert)
            adapter.context = ssl_ctx
            self.ssl_adapter = adapter

    def bind(self, family: int, type: int, proto: int = 0) -> None:
        """Use the pre-bound socket instead of binding one."""
        sock = self._premade
        # Accepted connections inherit this: without it, a response written in two parts
        # waits for the client's delayed ACK (~40 ms a request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket = self.ssl_adapter.bind(sock) if self.ssl_adapter else sock

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        """Connection-level noise goes to the debug log, not to stderr."""
        log.debug("http server: %s", msg, exc_info=traceback)


@dataclass(frozen=True)
class ServerTimes:
    created: float
    launched: float | None  # None: never ACTIVE
    deleted: float | None   # the delete request (None: none yet)
    ended: float | None     # None: not gone


class SandboxStartError(Exception):
    """The sandbox could not start (port taken, namespace guests refused, ...)."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or SandboxStartError naming the address and the reason."""
    try:
        return listen(host, port, 128)
    except OSError as exc:
        shown = f"[{host}]" if ":" in host else host
        raise SandboxStartError(f"cannot listen on {shown}:{port}: {exc.strerror}",
                                exc.errno) from None


class Sandbox:
    """An embedded cloud on loopback. ``with Sandbox() as sb: ...`` or start()/stop()."""

    def __init__(self, config: SandboxConfig | None = None, *, port: int = 0, tls: bool = False,
                 state_dir: Path | None = None) -> None:
        self.config = config or SandboxConfig()
        self._want_port = port
        self.tls = tls
        self._own_state_dir = state_dir is None
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="fedprobe-sandbox-"))
        self.control_token = secrets.token_urlsafe(24)
        self.tls_files: TlsFiles | None = None
        self.cloud: Cloud | None = None
        self._app: SandboxApp | None = None
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Self:
        """Create the cloud, bind both families, serve, and write clouds.yaml/sandbox.json."""
        try:  # a failure anywhere (even building the cloud) removes what start() made
            self.cloud = Cloud(self.config, self.state_dir)
            ssl_ctx = self._ssl_context() if self.tls else None
            app = self._app = SandboxApp(self.cloud, self.control_token)
            self._bind(app, ssl_ctx)
        except BaseException:
            self.stop()
            raise
        for srv in self._servers:
            thread = threading.Thread(target=srv.serve, name=f"sandbox-http-{srv.bind_addr[0]}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        cloudsyaml.write(self.clouds_yaml, cloudsyaml.clouds(self.config, self.auth_url,
                                                             self.ca_file))
        cloudsyaml.write(self.sites_yaml, sitesyaml.sites(self.config, self.auth_url,
                                                          self.base_url, self.ca_file,
                                                          self.guest_kind))
        self._write_info()
        return self

    def stop(self) -> None:
        """Stop serving, kill every guest, remove what the sandbox made. Idempotent."""
        if self._app is not None:
            self._app.close()  # requests sleeping an injected latency answer now
        stoppers = [threading.Thread(target=srv.stop) for srv in self._servers]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(timeout=10)
        self._servers.clear()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self.cloud is not None:
            self.cloud.close()
            self.cloud = None
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ssl_context(self) -> ssl.SSLContext:
        self.tls_files = make_ca_and_server(self.state_dir / "tls")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls_files.server_cert, self.tls_files.server_key)
        client_ca = self.config.identity.x509.client_ca
        if client_ca:  # ask for client certificates, RFC 3820 proxies accepted
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS
            for path in client_ca:
                try:
                    if Path(path).is_dir():
                        ctx.load_verify_locations(capath=path)
                    else:
                        ctx.load_verify_locations(cafile=path)
                except (OSError, ssl.SSLError) as exc:
                    raise SandboxStartError(f"identity.x509.client_ca {path}: {exc}") from None
        return ctx

    def _bind(self, app: SandboxApp, ssl_ctx: ssl.SSLContext | None) -> None:
        # Port 0: a free IPv4 port, then the same one on [::1]; retry if v6 has it taken.
        for _ in range(20):
            v4 = _listen("127.0.0.1", self._want_port)
            port = int(v4.getsockname()[1])
            try:
                v6: socket.socket | None = _listen("::1", port)
            except SandboxStartError as exc:
                v4.close()
                if exc.errno == errno.EADDRINUSE and self._want_port == 0:
                    continue
                if exc.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    raise
                log.warning("IPv6 loopback unavailable; serving IPv4 only")
                v4, v6 = _listen("127.0.0.1", port), None
            self.port = port
            cert = (str(self.tls_files.server_cert), str(self.tls_files.server_key)) \
                if self.tls_files else None
            for sock in (v4, v6):
                if sock is not None:
                    srv = _Server(sock, app, ssl_ctx, cert)
                    srv.prepare()
                    self._servers.append(srv)
            return
        raise SandboxStartError("no port free on both 127.0.0.1 and [::1]")

    def _write_info(self) -> None:
        info = {"base_url": self.base_url, "base_url_v6": self.base_url_v6,
                "auth_url": self.auth_url, "clouds_yaml": str(self.clouds_yaml),
                "sites_yaml": str(self.sites_yaml),
                "ca_file": str(self.ca_file) if self.ca_file else None,
                "control_token_file": str(self.state_dir / "control-token"),
                "guest_kind": self.guest_kind}
        token_file = self.state_dir / "control-token"
        token_file.touch(mode=0o600)
        token_file.write_text(self.control_token + "\n", encoding="utf-8")
        (self.state_dir / "sandbox.json").write_text(json.dumps(info, indent=2) + "\n",
                                                     encoding="utf-8")

    # -- addresses and files -------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        """http or https."""
        return "https" if self.tls else "http"

    @property
    def base_url(self) -> str:
        """The IPv4 base URL."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def base_url_v6(self) -> str | None:
        """The IPv6 base URL (None when IPv6 loopback is unavailable)."""
        return f"{self.scheme}://[::1]:{self.port}" if len(self._servers) > 1 else None

    @property
    def auth_url(self) -> str:
        """Keystone v3 URL."""
        return auth_url(self.base_url)

    @property
    def ca_file(self) -> Path | None:
        """The test CA's certificate (with --tls)."""
        return self.tls_files.ca_cert if self.tls_files else None

    @property
    def clouds_yaml(self) -> Path:
        """The clouds.yaml written for this sandbox."""
        return self.state_dir / "clouds.yaml"

    @property
    def sites_yaml(self) -> Path:
        """The fedprobe sites file written for this sandbox."""
        return self.state_dir / "sites.yaml"

    @property
    def guest_kind(self) -> str:
        """process or namespace."""
        return self._cloud().guest_kind

    # -- the Python API tests and benchmarks use --------------------------------------------------
    def _cloud(self) -> Cloud:
        if self.cloud is None:
            raise RuntimeError("the sandbox is not running")
        return self.cloud

    def request_log(self, since: int = 0) -> list[LoggedRequest]:
        """Requests handled so far (after sequence number ``since``)."""
        return self._cloud().requests.entries(since)

    def live_servers(self) -> list[dict[str, Any]]:
        """Servers that exist now, of every project (a leak check)."""
        cloud = self._cloud()
        with cloud.servers.lock:
            return [server_summary(s) for s in cloud.servers.all()]

    def server_times(self, server_id: str) -> ServerTimes:
        """When a server (gone or not) was made, became ACTIVE and went away, by the sandbox's
        own clock to the microsecond (the API shows whole seconds): benchmarks' truth."""
        server = self._cloud().servers.ever(server_id)
        if server is None:
            raise KeyError(server_id)
        asked = server.delete_requested  # monotonic: as Unix time
        deleted = None if asked is None else asked - time.monotonic() + time.time()
        return ServerTimes(server.created, server.launched_at, deleted, server.ended)

    def backdate(self, server_id: str, seconds: float) -> None:
        """Make a server look `seconds` older (tests of age-based cleanup)."""
        cloud = self._cloud()
        with cloud.servers.lock:
            for s in cloud.servers.all():
                if s.id == server_id:
                    s.created -= seconds
                    s.updated -= seconds
                    return
        raise KeyError(server_id)

    def set_faults(self, faults: Faults | None = None, **fields: Any) -> Faults:
        """Put faults in force: a Faults object, or its fields as keywords."""
        chosen = faults if faults is not None else Faults.model_validate(fields)
        self._cloud().set_faults(chosen)
        return chosen
