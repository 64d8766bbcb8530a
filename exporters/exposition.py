"""The results' exposition kept up to date incrementally: each (site, check)'s lines are
rendered again only when that series changed, and each family is joined from the cached pieces
— so a render costs what changed since the last one, not everything the exporter holds. The
bytes are exactly generate_latest(registry_for(store))'s.

The same sample lines serve OpenMetrics: for these families (gauges, counters, histograms, no
_created samples) prometheus_client's two encoders differ only in a counter's HELP/TYPE name
(``x`` in OpenMetrics, ``x_total`` in text) and the final ``# EOF``. So an OpenMetrics scrape is
the cached bodies under the OpenMetrics headers — no second render, no second copy in memory
(tests/unit/test_exposition.py holds both byte for byte against the library's encoders)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector

from exporters import deflate
from exporters.collector import add_series, new_families
from exporters.store import Series, Store

EOF_LINE = b"# EOF\n"


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _text(families: list[Metric]) -> bytes:
    return generate_latest(_Families(families))


def openmetrics_text(collector: Collector) -> bytes:
    """prometheus_client's OpenMetrics rendering of a collector (or registry), without the
    final ``# EOF`` (the caller joins more families, then ends it)."""
    text: bytes = openmetrics_latest(collector)  # type: ignore[no-untyped-call]
    return text.removesuffix(EOF_LINE)


def _openmetrics_header(family: Metric) -> bytes:
    """The family's HELP and TYPE lines as the OpenMetrics encoder writes them."""
    return openmetrics_text(_Families([family]))


@dataclass(frozen=True)
class Rendered:
    """One render: per family the cached sample lines of each series (shared by both formats,
    never joined into a second copy) and the headers."""

    headers: list[bytes]
    openmetrics_headers: list[bytes]
    pieces: list[list[bytes]]  # per family, per series with samples in it

    def text(self) -> Iterator[bytes]:
        """The text format (0.0.4), a family at a time (joined as it is sent)."""
        return self._chunks(self.headers)

    def openmetrics(self) -> Iterator[bytes]:
        """OpenMetrics 1.0.0 without its final ``# EOF`` (the caller adds more families)."""
        return self._chunks(self.openmetrics_headers)

    def _chunks(self, headers: list[bytes]) -> Iterator[bytes]:
        for header, pieces in zip(headers, self.pieces, strict=True):
            yield header + b"".join(pieces)

    def segments(self) -> list[bytes]:
        """Each family's samples compressed on their own (deflate.segment): the joined text
        lives only while it is compressed."""
        return [deflate.segment(b"".join(pieces)) for pieces in self.pieces]

    def gzip_opened(self, openmetrics: bool, header_segments: list[bytes],
                    segments: list[bytes]) -> deflate.Opened:
        """One format's results as the start of a gzip member, under its headers."""
        headers = self.openmetrics_headers if openmetrics else self.headers
        parts = ((p, c) for h, hc, pieces, sc in zip(headers, header_segments, self.pieces,
                                                       segments, strict=True)
                 for p, c in (([h], hc), (pieces, sc)))
        return deflate.open_member(parts)


class Exposition:
    """The store's results as exposition text, one chunk per metric family."""

    def __init__(self, store: Store) -> None:
        self.store = store
        families = list(new_families(False).values())
        self.headers = [_text([f]) for f in families]  # HELP and TYPE
        self.openmetrics_headers = [_openmetrics_header(f) for f in families]
        self._pieces: dict[tuple[str, str], tuple[int, list[bytes]]] = {}

    def render(self) -> Rendered:
        """Render the series that changed; join every family's samples from the pieces."""
        keys = []
        with self.store.reading() as all_series:
            for s in all_series:
                key = (s.site, s.check)
                keys.append(key)
                cached = self._pieces.get(key)
                if cached is None or cached[0] != s.version:
                    self._pieces[key] = (s.version, self._series_pieces(s))
        if len(self._pieces) != len(keys):  # series forgotten by a reload
            wanted = set(keys)
            for key in [k for k in self._pieces if k not in wanted]:
                del self._pieces[key]
        pieces = [self._pieces[k][1] for k in keys]
        per_family = [[p[i] for p in pieces if p[i]] for i in range(len(self.headers))]
        return Rendered(self.headers, self.openmetrics_headers, per_family)

    def _series_pieces(self, s: Series) -> list[bytes]:
        """One series' sample lines, per family (b"" where it has none)."""
        families = new_families(False)
        add_series(families, s, False)
        text = _text(list(families.values()))
        out, pos = [], 0
        for header in self.headers:
            pos += len(header)
            # Label values escape newlines, so "\n# HELP " only ever starts the next family.
            end = text.find(b"\n# HELP ", pos - 1)
            end = len(text) if end < 0 else end + 1
            out.append(text[pos:end])
            pos = end
        return out
