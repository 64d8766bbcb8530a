"""Reading a file an operator named (a config, a secret, a token, a proxy, a CA bundle): only a
regular file, and only up to a size cap. Written by hand rather than with Path.read_bytes() because
that would wait forever on a FIFO (open() blocks until a writer comes) and read /dev/zero until
memory runs out; here the file is opened without blocking, checked with fstat, and read once up to
its cap. A FileProblem says what is wrong in a few words; the caller names the file (or, for a
secret's ``*_file`` key, deliberately does not)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

KIB = 1024
CONFIG_LIMIT = 1024 * KIB   # a sites file, clouds.yaml, an exporter config
SECRET_LIMIT = 64 * KIB     # a password, token, passphrase or proxy file
CA_LIMIT = 16 * 1024 * KIB  # a CA bundle (Debian's whole ca-certificates.crt is ~220 KiB)

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class FileProblem(Exception):
    """Why a file cannot be used, in a few words (no path: the caller says which file)."""


def _size(limit: int) -> str:
    return f"{limit // (1024 * KIB)} MiB" if limit >= 1024 * KIB else f"{limit // KIB} KiB"


def read_bytes(path: str | Path, limit: int) -> bytes:
    """The content of a regular file of at most `limit` bytes, or FileProblem."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileProblem("no such file") from None
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror}") from None
    except ValueError:  # a NUL byte in the name
        raise FileProblem("not a file name (it holds a NUL character)") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise FileProblem(f"is {kind}, not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileProblem(f"larger than {_size(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def read_text(path: str | Path, limit: int) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes, or FileProblem."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileProblem("not UTF-8 text") from None


def unusable(path: str | Path, limit: int) -> str | None:
    """Why a file named on a command line can never be read as one (not a regular file, or over
    `limit` bytes), found without opening it; None if it is fine or does not exist (a missing
    credential file is what a credential check reports, not a usage mistake)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        return f"is {kind}, not a regular file"
    if st.st_size > limit:
        return f"larger than {_size(limit)}"
    return None
