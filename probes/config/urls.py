"""Whether a URL an operator gave (auth_url, token_endpoint, --pushgateway) can be used at all,
found when the configuration is read (UNKNOWN: the configuration's fault), not as a connection
failure blamed on the site; and hiding a ``user:password@`` part wherever a URL is shown."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# user:password@ after //, or after any / or : (http:/u:pw@h, a scheme-less u:pw@h)
_USERINFO = re.compile(r"(?:(?<=/)|(?<=:)|^)[^/?#@\s]*@")
_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def problem(url: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """What is wrong with it, in a few words (None: usable)."""
    if _CONTROL.search(url):
        return "holds a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is no number (abc) or out of range raises
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in schemes:
        return f"not an {' or '.join(schemes)} URL" if parts.scheme else \
            f"no scheme (write {schemes[-1]}://HOST/...)"
    if parts.username is not None or parts.password is not None:
        return "holds a user name or password (user:password@): give credentials as options"
    if not parts.hostname:
        return "no host in it"
    if not _host_ok(parts.hostname):
        return f"host {parts.hostname[:60]!r} is no host name or IP address"
    if port == 0:
        return "port 0"
    return None


def _host_ok(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")  # an internationalised name
    except UnicodeError:
        return False
    return len(ascii_host) <= 253 and _HOSTNAME.fullmatch(ascii_host) is not None


def redact(text: str) -> str:
    """The text with every URL's ``user:password@`` part replaced by <redacted>@."""
    return _USERINFO.sub("<redacted>@", text)
