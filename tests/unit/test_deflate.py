"""exporters/deflate.py: pieces compressed on their own frame into ONE gzip member that every
decoder reads back exactly — gzip, zlib, and urllib3's decoder at every bounded read size (it
repeats data when a read ends where a member ends, so several members were not enough)."""

from __future__ import annotations

import gzip
import zlib

from urllib3.response import GzipDecoder

from exporters import deflate

TEXTS = [b"# HELP a A.\n# TYPE a gauge\n", b'a{site="x"} 1.0\n' * 40, b"",
         b"# HELP b B.\n# TYPE b gauge\n", b'b{site="y"} 2.0\n' * 3]


def body(texts: list[bytes], last: bytes) -> bytes:
    opened = deflate.open_member(([t], deflate.segment(t)) for t in texts)
    return opened.head + opened.close(last)


def single_member(data: bytes) -> bytes:
    """The text of `data`, asserting it is one gzip member with nothing after it."""
    unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = unpacker.decompress(data)
    assert unpacker.eof and unpacker.unused_data == b"", "more than one gzip member"
    return text


def bounded_reads(data: bytes, size: int) -> bytes:
    """What urllib3 hands requests' iter_content: at most `size` decoded bytes per call."""
    decoder, out = GzipDecoder(), bytearray()
    out += decoder.decompress(data, max_length=size)
    while decoder.has_unconsumed_tail:
        out += decoder.decompress(b"", max_length=size)
    return bytes(out + decoder.flush())


def test_segments_frame_one_member_with_the_whole_text() -> None:
    last = b"# HELP live L.\n# TYPE live gauge\nlive 3.0\n# EOF\n"
    data = body(TEXTS, last)
    assert single_member(data) == b"".join(TEXTS) + last
    assert gzip.decompress(data) == b"".join(TEXTS) + last


def test_nothing_at_all_is_an_empty_member() -> None:
    assert gzip.decompress(body([], b"")) == b""
    assert single_member(body([b""], b"")) == b""


def test_urllib3_decodes_it_at_every_read_size() -> None:
    last = b"live 3.0\n"
    whole = b"".join(TEXTS) + last
    data = body(TEXTS, last)
    for size in range(1, len(whole) + 2):
        assert bounded_reads(data, size) == whole, f"read size {size}"
