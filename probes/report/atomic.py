"""One way to replace a file: write a temporary file beside it (same filesystem), set its mode,
rename it over the old one. A reader sees the old file or the new one, never half of one; a
failure leaves the old file and no temporary one."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path, mode: int = 0o600, prefix: str = ".fedprobe-") -> Iterator[Path]:
    """A temporary path beside `path` for a writer (ours or another program's); on leaving the
    block it gets `mode` and replaces `path`; on an exception it is removed. Only a regular file
    (or nothing) is replaced: renaming over /dev/null, a FIFO or a socket would put a file in
    its place (as root, `--json /dev/null` once replaced the machine's /dev/null)."""
    try:
        mode_now = os.stat(path).st_mode
    except FileNotFoundError:
        mode_now = stat.S_IFREG
    if not stat.S_ISREG(mode_now):
        raise OSError(errno.EINVAL, "not a regular file (only a file is replaced)", str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write(path: Path, text: str, mode: int = 0o600, prefix: str = ".fedprobe-") -> None:
    """Replace path with text (UTF-8), atomically, readable as `mode` says."""
    with replacing(path, mode, prefix) as tmp:
        tmp.write_text(text, encoding="utf-8")
