"""One gzip member assembled from pieces compressed separately.

The exporter compresses each family's samples once per render and places them under either
format's headers, then appends the live rest (its own series) per scrape. zlib and gzip compress
a buffer or a stream in order, so this framing is written here: a piece compressed on its own
and ended with a sync flush is a run of byte-aligned, non-final deflate blocks that refer to
nothing outside itself, so such pieces concatenate into one deflate stream; one empty final
block ends it, and the gzip header and trailer (CRC-32 and length of the whole text) frame it.

One member, not one per piece: concatenated members are valid gzip, but urllib3 2.8's
GzipDecoder repeats data when a bounded read ends exactly where a member ends (requests, and so
many Python scrapers, read that way: promtool then saw a family's HELP twice in a CI run)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

# magic, deflate, no flags, mtime 0, no extra flags, OS unknown (as gzip.compress(mtime=0))
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS).flush()  # an empty final block


def segment(data: bytes) -> bytes:
    """`data` as self-contained, non-final deflate blocks (b"" for nothing)."""
    if not data:
        return b""
    packer = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)  # drops the GIL as it works
    return packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True)
class Opened:
    """A gzip member's header and segments so far, and the CRC-32 and length of their text."""

    head: bytes
    crc: int
    size: int

    def close(self, last: bytes) -> bytes:
        """The member's end: `last` compressed, the final block and the trailer."""
        crc = zlib.crc32(last, self.crc)
        size = (self.size + len(last)) & 0xFFFFFFFF  # ISIZE: the length modulo 2**32
        return segment(last) + _FINAL + struct.pack("<II", crc, size)


def open_member(parts: Iterable[tuple[Iterable[bytes], bytes]]) -> Opened:
    """A member's start from (a text's pieces, that text's segment) in order."""
    crc, size, head = 0, 0, [HEADER]
    for pieces, compressed in parts:
        for piece in pieces:
            crc = zlib.crc32(piece, crc)
            size += len(piece)
        head.append(compressed)
    return Opened(b"".join(head), crc, size)
