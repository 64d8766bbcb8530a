"""The generated test CA really verifies the server certificate for every loopback name."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from probes.sandbox.tls import make_ca_and_server


def test_chain_and_names(tmp_path: Path) -> None:
    files = make_ca_and_server(tmp_path)
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    ctx = ssl.create_default_context(cafile=str(files.ca_cert))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.server_cert, files.server_key)  # key matches cert
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert oct(files.server_key.stat().st_mode & 0o777) == "0o600"
    assert oct(files.ca_key.stat().st_mode & 0o777) == "0o600"
